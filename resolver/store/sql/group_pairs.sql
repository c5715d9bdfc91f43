-- step group_pairs: the last scan's scored pairs between members of one group, strongest first
-- (pairs a reviewer separated are kept, flagged, for an undo; never shown)
WITH members AS (
    SELECT record_id FROM group_members
    WHERE account_id = $account_id AND entity = $entity AND group_id = $group_id
)
SELECT p.left_id, p.right_id, p.match_probability, p.match_weight, p.contributions
FROM pairs AS p
WHERE p.account_id = $account_id AND p.entity = $entity AND NOT p.separated
  AND p.left_id IN (SELECT record_id FROM members) AND p.right_id IN (SELECT record_id FROM members)
ORDER BY p.match_probability DESC, p.left_id, p.right_id;
