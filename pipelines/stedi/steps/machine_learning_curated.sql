-- Step-trainer readings with the accelerometer reading taken at the same instant, as the STEDI project defines
-- it: the join is on time only (sensorReadingTime = timestamp), it does not also match the customer.
-- No e-mail or other direct identifier: the accelerometer's user column is not selected; serialNumber is the
-- device id, kept so readings can be grouped per device.
SELECT s.sensorReadingTime, s.serialNumber, s.distanceFromObject, a.x, a.y, a.z
FROM step_trainer_trusted s
JOIN accelerometer_trusted a ON s.sensorReadingTime = a.timestamp
