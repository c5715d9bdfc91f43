-- step upsert_records: stage -> records. A row replaces the stored one only when it is not older
-- (NULL updated_at on either side counts as "unknown": the incoming row wins only if the stored
-- one is unknown too). A stored updated_at more than $skew_seconds after this write's stamp counts as
-- unknown as well: new rows have it clamped (store.MAX_FUTURE_SKEW), but one stored before that rule
-- (year 9999) would otherwise refuse every update. Runs inside one transaction with the staging table `stage`.
DELETE FROM records AS r
USING stage AS s
WHERE r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id
  AND (s.updated_at >= r.updated_at OR (r.updated_at IS NULL)
       OR r.updated_at > s.ingested_at + to_seconds($skew_seconds));
