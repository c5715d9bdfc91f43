-- step blocked_with: pairs (left < right) of live records sharing a blocking key with one of $ids. record_keys
-- holds exactly the values the blocking rules join on (resolver/blocking.py checks the rules are those).
WITH mine AS (
    SELECT DISTINCT key, record_id FROM record_keys
    WHERE account_id = $account_id AND entity = $entity AND record_id IN (SELECT unnest($ids::VARCHAR[]))
),
partners AS (
    SELECT DISTINCT least(m.record_id, k.record_id) AS left_id, greatest(m.record_id, k.record_id) AS right_id
    FROM mine AS m JOIN record_keys AS k ON k.account_id = $account_id AND k.entity = $entity AND k.key = m.key
    WHERE k.record_id <> m.record_id
)
SELECT p.left_id, p.right_id FROM partners AS p
WHERE EXISTS (SELECT 1 FROM records AS r WHERE r.account_id = $account_id AND r.entity = $entity
              AND r.record_id = p.left_id AND NOT r.deleted AND r.merged_into IS NULL)
  AND EXISTS (SELECT 1 FROM records AS r WHERE r.account_id = $account_id AND r.entity = $entity
              AND r.record_id = p.right_id AND NOT r.deleted AND r.merged_into IS NULL)
ORDER BY p.left_id, p.right_id
