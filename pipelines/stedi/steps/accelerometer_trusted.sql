-- Accelerometer readings of customers who agreed to share with research; accelerometer columns only.
-- Merged on (user, timestamp): a reading landed twice, or corrected in a later file, is one row, the latest wins.
SELECT user, timestamp, x, y, z
FROM (
  SELECT a.*, row_number() OVER (PARTITION BY a.user, a.timestamp
                                 ORDER BY a._ingested_at DESC, a._source_key DESC) AS rn
  FROM accelerometer_landing a
  LEFT SEMI JOIN customer_trusted c ON a.user = c.email
) latest
WHERE rn = 1
