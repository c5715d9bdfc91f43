-- step scan_holders: records whose stored scan values (scan_records.vals) include any of $vals, with their values
-- (a hash join on the unnested values: a list-overlap test per row is quadratic in the list of values)
SELECT s.record_id, s.vals FROM scan_records AS s
WHERE s.account_id = $account_id AND s.entity = $entity AND s.record_id IN (
    SELECT x.record_id FROM (
        SELECT record_id, unnest(vals) AS v FROM scan_records WHERE account_id = $account_id AND entity = $entity
    ) AS x
    WHERE x.v IN (SELECT unnest($vals::VARCHAR[]))
)
