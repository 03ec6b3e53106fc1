-- Step-trainer records whose device belongs to a curated customer; step-trainer columns only.
SELECT DISTINCT s.sensorReadingTime, s.serialNumber, s.distanceFromObject
FROM step_trainer_landing s
LEFT SEMI JOIN customer_curated c ON s.serialNumber = c.serialNumber
