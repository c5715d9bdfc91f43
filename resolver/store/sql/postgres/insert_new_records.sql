-- step insert_new_records (PostgreSQL): rows of `stage` (made LIKE records, so the columns line up) whose key
-- is no longer (or never was) in records
INSERT INTO records
SELECT s.* FROM stage AS s
WHERE NOT EXISTS (SELECT 1 FROM records AS r
                  WHERE r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id);
