-- User profiles with ssn and cc replaced by their salted SHA-256 (hex) and password dropped.
-- pipeline_salt is a one-row view the job registers at run time (salt from SSM, never in the SQL text).
-- Merged on username: of the profiles read in this run, the latest record per username wins.
SELECT p.first_name, p.last_name, p.username, p.email, p.gender, p.phone, p.zip,
       sha2(concat(s.salt, p.cc), 256)  AS cc,
       sha2(concat(s.salt, p.ssn), 256) AS ssn,
       p.age
FROM (
  SELECT *, row_number() OVER (PARTITION BY username ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM userprofile
) p
CROSS JOIN pipeline_salt s
WHERE p.rn = 1
