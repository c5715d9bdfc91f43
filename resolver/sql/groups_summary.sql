-- step groups_summary: how many groups and grouped records an account has, by entity, status and
-- needs_review, under the filters of groups_page (a NULL filter means "any"). Groups count as
-- groups_page lists them: an open group counts only its live records and needs two of them.
WITH picked AS (
    SELECT g.account_id, g.entity, g.group_id, g.status, g.needs_review
    FROM groups AS g
    WHERE g.account_id = $account_id
      AND ($entity::VARCHAR IS NULL OR g.entity = $entity)
      AND ($min_score::DOUBLE IS NULL OR g.group_score >= $min_score)
      AND ($max_score::DOUBLE IS NULL OR g.group_score <= $max_score)
      AND ($status::VARCHAR IS NULL OR g.status = $status)
      AND ($needs_review::BOOLEAN IS NULL OR g.needs_review = $needs_review)
),
listed AS (
    SELECT p.entity, p.group_id, p.status, p.needs_review, count(*)::INTEGER AS size
    FROM picked AS p
    JOIN group_members AS m
      ON m.account_id = p.account_id AND m.entity = p.entity AND m.group_id = p.group_id
    JOIN records AS r
      ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
    WHERE p.status = 'merged' OR (NOT r.deleted AND r.merged_into IS NULL)
    GROUP BY p.entity, p.group_id, p.status, p.needs_review
    HAVING p.status = 'merged' OR count(*) >= 2
)
SELECT entity, status, needs_review, count(*)::INTEGER AS groups, sum(size)::INTEGER AS records
FROM listed
GROUP BY entity, status, needs_review
ORDER BY entity DESC, status DESC, needs_review DESC;
