-- Page views per state and top page. The zip code reference lists some zip codes several times (alternative
-- city names), so it is reduced to one state per zip code first; otherwise views would be counted twice.
SELECT z.State AS state, a.toppage, count(*) AS views, count(DISTINCT a.username) AS users
FROM activity_by_profile a
JOIN (SELECT Zipcode, max(State) AS State FROM zipcodes GROUP BY Zipcode) z ON a.zip = z.Zipcode
GROUP BY z.State, a.toppage
