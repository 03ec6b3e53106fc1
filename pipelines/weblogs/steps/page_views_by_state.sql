-- Page views per state and top page. The raw zone keeps every export of the zip code reference, so a zip code
-- can appear more than once; it is reduced to one state per zip code first, otherwise views would be counted twice.
SELECT z.State AS state, a.toppage, count(*) AS views, count(DISTINCT a.username) AS users
FROM activity_by_profile a
JOIN (SELECT Zipcode, max(State) AS State FROM zipcodes GROUP BY Zipcode) z ON a.zip = z.Zipcode
GROUP BY z.State, a.toppage
