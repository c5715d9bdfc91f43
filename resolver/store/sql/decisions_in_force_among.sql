-- step decisions_in_force_among: left_id, right_id and decision of the latest decision on each pair
-- of one account and entity whose records are both in $ids (all pairs when $ids is NULL); a pair
-- whose latest decision is `undo` has none in force. A reviewer's click touches a few records, so
-- feedback reads only theirs, not the whole log.
SELECT left_id, right_id, decision
FROM decisions
WHERE account_id = $account_id AND entity = $entity
  AND ($ids::VARCHAR[] IS NULL
       OR (left_id IN (SELECT unnest($ids::VARCHAR[])) AND right_id IN (SELECT unnest($ids::VARCHAR[]))))
QUALIFY row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) = 1
    AND decision <> 'undo'
