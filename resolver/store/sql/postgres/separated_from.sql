-- step separated_from (PostgreSQL): as sql/separated_from.sql, without QUALIFY
SELECT CASE WHEN left_id = $record_id THEN right_id ELSE left_id END AS other_id
FROM (
    SELECT left_id, right_id, decision,
           row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) AS latest
    FROM decisions
    WHERE account_id = $account_id AND entity = $entity AND (left_id = $record_id OR right_id = $record_id)
) AS d
WHERE latest = 1 AND decision = 'not_duplicate'
