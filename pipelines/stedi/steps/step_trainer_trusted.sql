-- Step-trainer records whose device belongs to a curated customer; step-trainer columns only.
-- Merged on (serialNumber, sensorReadingTime): the latest landed reading wins.
SELECT sensorReadingTime, serialNumber, distanceFromObject
FROM (
  SELECT s.*, row_number() OVER (PARTITION BY s.serialNumber, s.sensorReadingTime
                                 ORDER BY s._ingested_at DESC, s._source_key DESC) AS rn
  FROM step_trainer_landing s
  LEFT SEMI JOIN customer_curated c ON s.serialNumber = c.serialNumber
) latest
WHERE rn = 1
