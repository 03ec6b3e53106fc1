-- Requests of registered users joined to their (secure) profile on username. Only the profile's analytic
-- attributes are carried (gender, age, zip): names, e-mail, phone and the hashed PII stay in the trusted zone.
-- Requests of users without a profile (guests) are dropped by the inner join.
SELECT a.username, a.requesttype, a.topdomain, a.toppage, a.subpage, a.http, a.bytes,
       a.date, a.time, p.gender, p.age, p.zip, a.year, a.month
FROM useractivity_flat a
JOIN userprofile_secure p ON a.username = p.username
