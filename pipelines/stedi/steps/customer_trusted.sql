-- Customers who agreed to share their data with research (shareWithResearchAsOfDate present).
-- The landing zone keeps every export, so a customer may appear several times: the latest record per e-mail
-- decides (a customer who later withdrew consent is not trusted).
SELECT customerName, email, phone, birthDay, serialNumber, registrationDate, lastUpdateDate,
       shareWithResearchAsOfDate, shareWithPublicAsOfDate, shareWithFriendsAsOfDate
FROM (
  SELECT *,
         row_number() OVER (PARTITION BY email
                            ORDER BY lastUpdateDate DESC NULLS LAST, _ingested_at DESC, _source_key DESC) AS rn
  FROM customer_landing
) latest
WHERE rn = 1
  AND shareWithResearchAsOfDate IS NOT NULL
