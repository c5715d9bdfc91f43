-- step pairs_among: the last scan's scored pairs, not separated, between any two of $ids
WITH ids AS (SELECT unnest($ids::VARCHAR[]) AS record_id)
SELECT p.left_id, p.right_id, p.match_probability, p.match_weight, p.contributions
FROM pairs AS p
WHERE p.account_id = $account_id AND p.entity = $entity AND NOT p.separated
  AND p.left_id IN (SELECT record_id FROM ids) AND p.right_id IN (SELECT record_id FROM ids)
ORDER BY p.match_probability DESC, p.left_id, p.right_id;
