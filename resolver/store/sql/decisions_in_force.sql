-- step decisions_in_force: the latest decision on each pair of one account and entity; a pair
-- whose latest decision is `undo` has none in force
SELECT entity, left_id, right_id, decision, reviewer, decided_at, group_id
FROM decisions
WHERE account_id = ? AND entity = ?
QUALIFY row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) = 1
    AND decision <> 'undo'
