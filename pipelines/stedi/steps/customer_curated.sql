-- Trusted customers who have accelerometer readings: customer columns only, one row per customer
-- (a semi join, so the many readings of a customer do not multiply the customer).
SELECT c.customerName, c.email, c.phone, c.birthDay, c.serialNumber, c.registrationDate, c.lastUpdateDate,
       c.shareWithResearchAsOfDate, c.shareWithPublicAsOfDate, c.shareWithFriendsAsOfDate
FROM customer_trusted c
LEFT SEMI JOIN accelerometer_trusted a ON c.email = a.user
