-- One row per product: the latest export of each productCode. productDescription keeps its line breaks; prices
-- are decimal(10,2) again, as in MySQL (the raw zone holds them as doubles).
SELECT productCode, productName, productLine, productScale, productVendor, productDescription, quantityInStock,
       CAST(buyPrice AS DECIMAL(10, 2)) AS buyPrice, CAST(MSRP AS DECIMAL(10, 2)) AS MSRP,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY productCode ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.products
) latest
WHERE rn = 1
