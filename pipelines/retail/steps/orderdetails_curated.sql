-- Order lines landed since the last run, merged on (orderNumber, productCode).
SELECT orderNumber, productCode, quantityOrdered, priceEach, orderLineNumber,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY orderNumber, productCode
                               ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.orderdetails
) latest
WHERE rn = 1
