-- step groups_summary: how many groups and grouped records an account has, by entity, status and
-- needs_review, under the filters of groups_page (a NULL filter means "any"): the same listed_groups
-- (schema.sql), so the counts are what the list shows.
SELECT entity, status, needs_review, count(*)::INTEGER AS groups, sum(size)::INTEGER AS records
FROM listed_groups
WHERE account_id = $account_id
  AND ($entity::VARCHAR IS NULL OR entity = $entity)
  AND ($min_score::DOUBLE IS NULL OR group_score >= $min_score)
  AND ($max_score::DOUBLE IS NULL OR group_score <= $max_score)
  AND ($status::VARCHAR IS NULL OR status = $status)
  AND ($needs_review::BOOLEAN IS NULL OR needs_review = $needs_review)
GROUP BY entity, status, needs_review
ORDER BY entity DESC, status DESC, needs_review DESC;
