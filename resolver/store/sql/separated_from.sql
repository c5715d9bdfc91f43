-- step separated_from: the records a reviewer separated from one record (the latest decision on the
-- pair is `not_duplicate`); the real-time check leaves them out of its answer
SELECT CASE WHEN left_id = $record_id THEN right_id ELSE left_id END AS other_id
FROM decisions
WHERE account_id = $account_id AND entity = $entity AND (left_id = $record_id OR right_id = $record_id)
QUALIFY row_number() OVER (PARTITION BY left_id, right_id ORDER BY seq DESC) = 1
    AND decision = 'not_duplicate'
