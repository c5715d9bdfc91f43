-- step groups_page: one page of an account's groups as listed_groups shows them (schema.sql), under the
-- list's filters, best first (group_score desc, then group_id). The cursor ($after_score, $after_id)
-- is the last group of the previous page.
SELECT group_id, entity, group_score, needs_review, review_reasons, status, survivor_id, size, record_ids, names
FROM filtered_groups($account_id, $entity, $min_score, $max_score, $status, $needs_review)
WHERE $after_score::DOUBLE IS NULL OR group_score < $after_score
   OR (group_score = $after_score AND group_id > $after_id::VARCHAR)
ORDER BY group_score DESC, group_id
LIMIT $limit;
