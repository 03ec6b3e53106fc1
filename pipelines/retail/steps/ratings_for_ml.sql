-- The ML team's table. process_ts is text: Athena's Iceberg tables take timestamp(6) without a zone, and the
-- curated column is an instant (timestamp with time zone).
SELECT customernumber, productcode, productrating, ratingtimestamp, country, creditlimit, productline,
       productscale, productvendor, buyprice, msrp, CAST(process_ts AS varchar) AS process_ts
FROM curated.ratings_for_ml_curated
