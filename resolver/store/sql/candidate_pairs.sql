-- step candidate_pairs: the pairs an incremental scan scores again (scanstate.candidate_pairs). Key joins go
-- through record_keys' index on key; only the pairs left after pruning meet the records table.
WITH mine AS (
    SELECT DISTINCT key, record_id FROM record_keys
    WHERE account_id = $account_id AND entity = $entity AND record_id IN (SELECT unnest($ids::VARCHAR[]))
),
held AS (
    SELECT DISTINCT g, record_id FROM (SELECT unnest($g::INTEGER[]) AS g, unnest($holders::VARCHAR[]) AS record_id) AS h
),
held_keys AS (
    SELECT DISTINCT h.g, k.key, k.record_id FROM held AS h
    JOIN record_keys AS k ON k.account_id = $account_id AND k.entity = $entity AND k.record_id = h.record_id
    WHERE h.g IN (SELECT unnest($full::INTEGER[]))
),
shared AS (
    SELECT m.record_id AS a, k.record_id AS b, k.key FROM mine AS m
    JOIN record_keys AS k ON k.account_id = $account_id AND k.entity = $entity AND k.key = m.key
    WHERE k.record_id <> m.record_id
    UNION ALL
    SELECT x.record_id, y.record_id, x.key FROM held_keys AS x
    JOIN held_keys AS y ON y.g = x.g AND y.key = x.key AND x.record_id < y.record_id
),
blocked AS (
    SELECT least(a, b) AS left_id, greatest(a, b) AS right_id, bool_or(/* kept */ false) AS kept
    FROM shared GROUP BY 1, 2
    UNION ALL
    SELECT p.left_id, p.right_id, true FROM pairs AS p
    JOIN held AS x ON x.record_id = p.left_id JOIN held AS y ON y.record_id = p.right_id AND y.g = x.g
    WHERE p.account_id = $account_id AND p.entity = $entity
),
pairs_again AS (
    SELECT left_id, right_id, bool_or(kept) AS kept FROM blocked GROUP BY 1, 2
)
SELECT p.left_id, p.right_id FROM pairs_again AS p
JOIN records AS l ON l.account_id = $account_id AND l.entity = $entity AND l.record_id = p.left_id
JOIN records AS r ON r.account_id = $account_id AND r.entity = $entity AND r.record_id = p.right_id
WHERE NOT l.deleted AND l.merged_into IS NULL AND NOT r.deleted AND r.merged_into IS NULL
  AND (p.kept OR NOT (/* prune */ false))
ORDER BY p.left_id, p.right_id
