-- step groups_summary: how many groups and grouped records an account has, by entity, status and
-- needs_review, under the filters of groups_page: the same filtered_groups (schema.sql), so the counts
-- are what the list shows.
SELECT entity, status, needs_review, count(*)::INTEGER AS groups, sum(size)::INTEGER AS records
FROM filtered_groups($account_id, $entity, $min_score, $max_score, $status, $needs_review)
GROUP BY entity, status, needs_review
ORDER BY entity DESC, status DESC, needs_review DESC;
