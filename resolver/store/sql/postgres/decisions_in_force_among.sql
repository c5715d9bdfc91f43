-- step decisions_in_force_among (PostgreSQL): as sql/decisions_in_force_among.sql, without QUALIFY
SELECT left_id, right_id, decision
FROM (
    SELECT left_id, right_id, decision,
           row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) AS latest
    FROM decisions
    WHERE account_id = $account_id AND entity = $entity
      AND ($ids::VARCHAR[] IS NULL
           OR (left_id = ANY($ids::VARCHAR[]) AND right_id = ANY($ids::VARCHAR[])))
) AS d
WHERE latest = 1 AND decision <> 'undo'
