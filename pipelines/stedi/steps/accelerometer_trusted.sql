-- Accelerometer readings of customers who agreed to share with research; accelerometer columns only.
-- DISTINCT drops exact duplicates (the same landing file ingested twice).
SELECT DISTINCT a.user, a.timestamp, a.x, a.y, a.z
FROM accelerometer_landing a
LEFT SEMI JOIN customer_trusted c ON a.user = c.email
