-- step groups_export: the groups CSV of the last scan, one row per grouped record,
-- groups by score (best first), the survivor first inside a group
SELECT g.group_id, m.record_id, g.group_score, m.is_survivor, g.needs_review,
       r.name, r.phones, r.emails, g.review_reasons, g.size
FROM groups AS g
JOIN group_members AS m
  ON m.account_id = g.account_id AND m.entity = g.entity AND m.group_id = g.group_id
JOIN records AS r
  ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE g.account_id = ? AND g.entity = ? AND g.status = 'open'
ORDER BY g.group_score DESC, g.group_id, m.is_survivor DESC, m.record_id;
