-- One row per customer: the latest export of each customerNumber (the raw zone keeps every export), text fields
-- trimmed (the source pads some: 'Carine ', 'Norway  ', ' 530-0003'), creditLimit a decimal(10,2) again as in MySQL
-- (contracts have no decimal type: the raw zone holds it as a double). ingest_ts and source_key name the landing
-- file a row came from and when it landed.
SELECT customerNumber, trim(customerName) AS customerName, trim(contactLastName) AS contactLastName,
       trim(contactFirstName) AS contactFirstName, trim(phone) AS phone, trim(addressLine1) AS addressLine1,
       trim(addressLine2) AS addressLine2, trim(city) AS city, trim(state) AS state, trim(postalCode) AS postalCode,
       trim(country) AS country, salesRepEmployeeNumber, CAST(creditLimit AS DECIMAL(10, 2)) AS creditLimit,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY customerNumber ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.customers
) latest
WHERE rn = 1
