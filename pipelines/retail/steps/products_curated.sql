-- One row per product: the latest export of each productCode. productDescription keeps its line breaks.
SELECT productCode, productName, productLine, productScale, productVendor, productDescription, quantityInStock,
       buyPrice, MSRP, _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY productCode ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.products
) latest
WHERE rn = 1
