-- step groups_of_records: the groups of the last scan holding any of $ids, with every member and
-- the scan that made the group; `live` is false for a member deleted or merged since
WITH ids AS (SELECT unnest($ids::VARCHAR[]) AS record_id),
touched AS (
    SELECT DISTINCT group_id FROM group_members
    WHERE account_id = $account_id AND entity = $entity AND record_id IN (SELECT record_id FROM ids)
)
SELECT g.group_id, g.status, g.scan_id, m.record_id, NOT r.deleted AND r.merged_into IS NULL AS live
FROM groups AS g
JOIN group_members AS m ON m.account_id = g.account_id AND m.entity = g.entity AND m.group_id = g.group_id
JOIN records AS r ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE g.account_id = $account_id AND g.entity = $entity AND g.group_id IN (SELECT group_id FROM touched)
ORDER BY g.group_id, m.record_id;
