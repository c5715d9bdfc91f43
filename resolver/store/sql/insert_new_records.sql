-- step insert_new_records: rows of `stage` whose key is no longer (or never was) in records
INSERT INTO records BY NAME
SELECT s.* FROM stage AS s
ANTI JOIN records AS r
  ON r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id;
