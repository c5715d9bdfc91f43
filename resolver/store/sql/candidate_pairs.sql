-- step candidate_pairs: the pairs an incremental scan scores again (scanstate.candidate_pairs). Key joins go
-- through record_keys' index on key; each pair's cheap comparison states make a code, and the pairs whose
-- (bound, code) is in $pruned_bound/$pruned_code cannot reach the threshold (bound 0: the changed records' pairs).
WITH mine AS (
    SELECT DISTINCT key, record_id, /* kept */ false AS kept FROM record_keys
    WHERE account_id = $account_id AND entity = $entity AND record_id IN (SELECT unnest($ids::VARCHAR[]))
),
held AS (
    SELECT DISTINCT g, record_id, bound FROM (
        SELECT unnest($g::INTEGER[]) AS g, unnest($holders::VARCHAR[]) AS record_id,
               unnest($bound::INTEGER[]) AS bound
    ) AS h
),
held_keys AS (
    SELECT DISTINCT h.g, h.bound, k.key, k.record_id, /* kept */ false AS kept FROM held AS h
    JOIN record_keys AS k ON k.account_id = $account_id AND k.entity = $entity AND k.record_id = h.record_id
    WHERE h.g IN (SELECT unnest($full::INTEGER[]))
),
shared AS (
    SELECT m.record_id AS a, k.record_id AS b, m.kept, 0 AS bound FROM mine AS m
    JOIN record_keys AS k ON k.account_id = $account_id AND k.entity = $entity AND k.key = m.key
    WHERE k.record_id <> m.record_id
    UNION ALL
    SELECT x.record_id, y.record_id, x.kept, x.bound FROM held_keys AS x
    JOIN held_keys AS y ON y.g = x.g AND y.key = x.key AND x.record_id < y.record_id
),
blocked AS (
    SELECT least(a, b) AS left_id, greatest(a, b) AS right_id, bound, bool_or(kept) AS kept
    FROM shared GROUP BY 1, 2, 3
    UNION ALL
    SELECT p.left_id, p.right_id, 0, true FROM pairs AS p
    JOIN held AS x ON x.record_id = p.left_id JOIN held AS y ON y.record_id = p.right_id AND y.g = x.g
    WHERE p.account_id = $account_id AND p.entity = $entity
),
coded AS (
    SELECT p.left_id, p.right_id, p.bound, p.kept, /* code */ 0 AS code FROM blocked AS p
    JOIN records AS l ON l.account_id = $account_id AND l.entity = $entity AND l.record_id = p.left_id
    JOIN records AS r ON r.account_id = $account_id AND r.entity = $entity AND r.record_id = p.right_id
    WHERE NOT l.deleted AND l.merged_into IS NULL AND NOT r.deleted AND r.merged_into IS NULL
),
pruned AS (
    SELECT unnest($pruned_bound::INTEGER[]) AS bound, unnest($pruned_code::INTEGER[]) AS code
),
again AS (
    SELECT DISTINCT c.left_id, c.right_id FROM coded AS c
    WHERE c.kept OR NOT EXISTS (SELECT 1 FROM pruned AS x WHERE x.bound = c.bound AND x.code = c.code)
)
SELECT a.left_id, a.right_id, s.left_id IS NOT NULL AS stored FROM again AS a
LEFT JOIN pairs AS s ON s.account_id = $account_id AND s.entity = $entity AND s.left_id = a.left_id
    AND s.right_id = a.right_id
ORDER BY a.left_id, a.right_id
