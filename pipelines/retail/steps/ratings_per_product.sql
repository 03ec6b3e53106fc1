-- Average rating and number of rows per product, most reviewed first. A product nobody rated keeps its row (LEFT
-- JOIN) with avg_rating NULL; count(*) counts that row, so its review_count is 1, as the lab defines the report.
SELECT prod.productcode, prod.productname, avg(rating.productrating) AS avg_rating, count(*) AS review_count
FROM curated.products_curated prod
LEFT JOIN curated.ratings_curated rating ON prod.productcode = rating.productcode
GROUP BY prod.productcode, prod.productname
ORDER BY review_count DESC, avg_rating
