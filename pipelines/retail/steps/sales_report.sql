-- Sales per month: the value of the order lines of the orders placed that month (every status counts).
SELECT year(ord.orderdate) AS sales_year, month(ord.orderdate) AS sales_month,
       sum(det.quantityordered * det.priceeach) AS sales_total
FROM curated.orders_curated ord
LEFT JOIN curated.orderdetails_curated det ON ord.ordernumber = det.ordernumber
GROUP BY year(ord.orderdate), month(ord.orderdate)
