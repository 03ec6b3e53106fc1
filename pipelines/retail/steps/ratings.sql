-- Every customer's current rating of a product.
SELECT customernumber, productcode, productrating, ratingtimestamp
FROM curated.ratings_curated
