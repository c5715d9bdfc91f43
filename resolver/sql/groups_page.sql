-- step groups_page: one page of an account's groups, best first (group_score desc, then group_id),
-- each with its member ids and names (survivor first). A record deleted or merged away after the scan leaves
-- an open group, and an open group left with fewer than two live records is no group any more;
-- a merged group keeps every member, as the widget reported it. A NULL filter means "any"; the
-- cursor ($after_score, $after_id) is the last group of the previous page.
WITH page AS (
    SELECT g.*
    FROM groups AS g
    WHERE g.account_id = $account_id
      AND ($entity::VARCHAR IS NULL OR g.entity = $entity)
      AND ($min_score::DOUBLE IS NULL OR g.group_score >= $min_score)
      AND ($max_score::DOUBLE IS NULL OR g.group_score <= $max_score)
      AND ($status::VARCHAR IS NULL OR g.status = $status)
      AND ($needs_review::BOOLEAN IS NULL OR g.needs_review = $needs_review)
      AND ($after_score::DOUBLE IS NULL OR g.group_score < $after_score
           OR (g.group_score = $after_score AND g.group_id > $after_id::VARCHAR))
)
SELECT p.group_id, p.entity, p.group_score, p.needs_review, p.review_reasons, p.status, p.survivor_id,
       count(*)::INTEGER AS size, list(m.record_id ORDER BY m.is_survivor DESC, m.record_id) AS record_ids,
       list(r.name ORDER BY m.is_survivor DESC, m.record_id) AS names
FROM page AS p
JOIN group_members AS m
  ON m.account_id = p.account_id AND m.entity = p.entity AND m.group_id = p.group_id
JOIN records AS r
  ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE p.status = 'merged' OR (NOT r.deleted AND r.merged_into IS NULL)
GROUP BY p.group_id, p.entity, p.group_score, p.needs_review, p.review_reasons, p.status, p.survivor_id
HAVING p.status = 'merged' OR count(*) >= 2
ORDER BY p.group_score DESC, p.group_id
LIMIT $limit;
