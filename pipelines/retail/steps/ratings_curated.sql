-- Ratings landed since the last run, merged on (customerNumber, productCode): a customer who rates a product again
-- replaces their rating. Of several ratings of one pair in one run, the latest (by ratingtimestamp, then landing)
-- wins. ratingtimestamp is null for events sent before the site added it.
SELECT customerNumber, productCode, productRating, ratingtimestamp,
       _ingested_at AS ingest_ts, _source_key AS source_key
FROM (
  SELECT *, row_number() OVER (PARTITION BY customerNumber, productCode
                               ORDER BY ratingtimestamp DESC NULLS LAST, _ingested_at DESC, _source_key DESC) AS rn
  FROM raw.product_ratings
) latest
WHERE rn = 1
