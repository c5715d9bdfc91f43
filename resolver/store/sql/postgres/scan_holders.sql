-- step scan_holders (PostgreSQL): as sql/scan_holders.sql, with the array overlap operator
SELECT record_id, vals FROM scan_records
WHERE account_id = $account_id AND entity = $entity AND vals && $vals::VARCHAR[]
