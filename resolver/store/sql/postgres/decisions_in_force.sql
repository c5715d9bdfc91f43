-- step decisions_in_force (PostgreSQL): as sql/decisions_in_force.sql, without QUALIFY
SELECT entity, left_id, right_id, decision, reviewer, decided_at, group_id
FROM (
    SELECT *, row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) AS latest
    FROM decisions
    WHERE account_id = ? AND entity = ?
) AS d
WHERE latest = 1 AND decision <> 'undo'
