-- step separated_groups: open groups of the last scan that hold both records of a pair a reviewer
-- separated ($left_ids[i], $right_ids[i]), with the scan that made each and its auto-merge threshold
WITH separated AS (
    SELECT unnest($left_ids::VARCHAR[]) AS left_id, unnest($right_ids::VARCHAR[]) AS right_id
)
SELECT DISTINCT g.group_id, g.scan_id, s.auto_merge_threshold
FROM separated AS p
JOIN group_members AS a
  ON a.account_id = $account_id AND a.entity = $entity AND a.record_id = p.left_id
JOIN group_members AS b
  ON b.account_id = a.account_id AND b.entity = a.entity AND b.group_id = a.group_id AND b.record_id = p.right_id
JOIN groups AS g
  ON g.account_id = a.account_id AND g.entity = a.entity AND g.group_id = a.group_id
JOIN scans AS s
  ON s.account_id = g.account_id AND s.entity = g.entity AND s.scan_id = g.scan_id
WHERE g.status = 'open'
ORDER BY g.group_id;
