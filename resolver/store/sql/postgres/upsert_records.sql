-- step upsert_records (PostgreSQL): as sql/upsert_records.sql; the skew is an interval here
DELETE FROM records AS r
USING stage AS s
WHERE r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id
  AND (s.updated_at >= r.updated_at OR (r.updated_at IS NULL)
       OR r.updated_at > s.ingested_at + make_interval(secs => $skew_seconds));
