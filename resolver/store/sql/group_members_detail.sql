-- step group_members_detail: the members of one group with what a reviewer sees of each record,
-- the survivor first; `merged_into` and `deleted` tell what happened to a record since the scan
SELECT m.record_id, r.name, r.phones, r.emails, m.is_survivor, r.merged_into, r.deleted, r.updated_at
FROM group_members AS m
JOIN records AS r
  ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE m.account_id = $account_id AND m.entity = $entity AND m.group_id = $group_id
ORDER BY m.is_survivor DESC, m.record_id;
