-- One row per request, the request line and the access-log timestamp split into columns:
--   "GET /petstore/Cats/Treats" -> requesttype GET, topdomain petstore, toppage Cats, subpage Treats
--   "17/Jan/2018:10:43:54"      -> date 2018-01-17, time 10:43:54, year 2018, month 1 (UTC)
--   "6/Jan/2018:06:51:54"       -> date 2018-01-06 (the workshop's logs do not pad the day: d, not dd, which
--                                  reads one or two digits)
-- try_element_at gives NULL instead of an error when a path has fewer levels.
SELECT ip_address, username, http, bytes,
       requesttype, topdomain, toppage, subpage,
       to_date(ts) AS date, date_format(ts, 'HH:mm:ss') AS time, year(ts) AS year, month(ts) AS month
FROM (
  SELECT ip_address, username, http, bytes,
         try_element_at(split(request, ' '), 1) AS requesttype,
         try_element_at(split(try_element_at(split(request, ' '), 2), '/'), 2) AS topdomain,
         try_element_at(split(try_element_at(split(request, ' '), 2), '/'), 3) AS toppage,
         try_element_at(split(try_element_at(split(request, ' '), 2), '/'), 4) AS subpage,
         to_timestamp(`timestamp`, 'd/MMM/yyyy:HH:mm:ss') AS ts
  FROM useractivity
) parsed
