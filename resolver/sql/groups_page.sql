-- step groups_page: one page of an account's groups as listed_groups shows them (schema.sql), best first
-- (group_score desc, then group_id). A NULL filter means "any"; the cursor ($after_score, $after_id)
-- is the last group of the previous page.
SELECT group_id, entity, group_score, needs_review, review_reasons, status, survivor_id, size, record_ids, names
FROM listed_groups
WHERE account_id = $account_id
  AND ($entity::VARCHAR IS NULL OR entity = $entity)
  AND ($min_score::DOUBLE IS NULL OR group_score >= $min_score)
  AND ($max_score::DOUBLE IS NULL OR group_score <= $max_score)
  AND ($status::VARCHAR IS NULL OR status = $status)
  AND ($needs_review::BOOLEAN IS NULL OR needs_review = $needs_review)
  AND ($after_score::DOUBLE IS NULL OR group_score < $after_score
       OR (group_score = $after_score AND group_id > $after_id::VARCHAR))
ORDER BY group_score DESC, group_id
LIMIT $limit;
