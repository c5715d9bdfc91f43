-- step scan_holders: records whose stored scan values (scan_records.vals) include any of $vals
SELECT record_id, vals FROM scan_records
WHERE account_id = $account_id AND entity = $entity AND list_has_any(vals, $vals::VARCHAR[])
