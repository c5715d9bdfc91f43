-- step pairs_touching: the stored pairs with either record in $ids (an incremental scan regroups around them)
WITH ids AS (SELECT unnest($ids::VARCHAR[]) AS record_id)
SELECT p.left_id, p.right_id, p.match_probability, p.match_weight, p.contributions, p.separated
FROM pairs AS p
WHERE p.account_id = $account_id AND p.entity = $entity
  AND (p.left_id IN (SELECT record_id FROM ids) OR p.right_id IN (SELECT record_id FROM ids))
ORDER BY p.left_id, p.right_id
