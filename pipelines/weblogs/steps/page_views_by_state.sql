-- Page views per state and top page. The raw zone keeps every export of the zip code reference, so a zip code
-- can appear more than once; it is reduced to one state per zip code first, otherwise views would be counted twice.
-- The workshop's zip code file drops leading zeros (2108) where profiles keep them (02108): pad before joining.
SELECT z.State AS state, a.toppage, count(*) AS views, count(DISTINCT a.username) AS users
FROM activity_by_profile a
JOIN (SELECT lpad(Zipcode, 5, '0') AS Zipcode, max(State) AS State
      FROM zipcodes
      GROUP BY lpad(Zipcode, 5, '0')) z ON a.zip = z.Zipcode
GROUP BY z.State, a.toppage
