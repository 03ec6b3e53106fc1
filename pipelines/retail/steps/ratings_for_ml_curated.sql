-- Ratings with the features a recommender trains on: the customer's country and credit limit, the product's line,
-- scale, vendor and prices. No names or contact details: the ML principal reads this table and nothing else.
-- process_ts is when this run built the table.
SELECT r.customerNumber, r.productCode, r.productRating, r.ratingtimestamp,
       c.country, c.creditLimit, p.productLine, p.productScale, p.productVendor, p.buyPrice, p.MSRP,
       current_timestamp() AS process_ts
FROM curated.ratings_curated r
JOIN curated.customers_curated c ON r.customerNumber = c.customerNumber
JOIN curated.products_curated p ON r.productCode = p.productCode
