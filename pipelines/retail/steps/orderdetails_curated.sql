-- Order lines landed since the last run, merged on (orderNumber, productCode). priceEach is a decimal(10,2) again,
-- as in MySQL, so that sales add up to the cent (the raw zone holds it as a double).
SELECT orderNumber, productCode, quantityOrdered, CAST(priceEach AS DECIMAL(10, 2)) AS priceEach, orderLineNumber,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY orderNumber, productCode
                               ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.orderdetails
) latest
WHERE rn = 1
