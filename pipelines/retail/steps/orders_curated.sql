-- Orders landed since the last run, merged on orderNumber: a re-exported order (its status or shippedDate
-- changed) replaces the row; of two exports in one run, the later one wins.
SELECT orderNumber, orderDate, requiredDate, shippedDate, status, comments, customerNumber,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY orderNumber ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.orders
) latest
WHERE rn = 1
