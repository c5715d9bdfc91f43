-- step scan_holders: the scanned records holding any of $vals ("<column>:<value>") now, with their stored scan
-- values. Blocking keys are found through record_keys' index on key, a scalar column's values in the records.
WITH wanted AS (
    SELECT DISTINCT unnest($vals::VARCHAR[]) AS v
),
hit AS (
    SELECT k.record_id FROM record_keys AS k
    WHERE k.account_id = $account_id AND k.entity = $entity AND k.key IN (SELECT v FROM wanted)
    UNION
    SELECT r.record_id FROM records AS r
    WHERE r.account_id = $account_id AND r.entity = $entity AND (/* scalar */ false)
)
SELECT s.record_id, s.vals FROM scan_records AS s JOIN hit AS h ON h.record_id = s.record_id
WHERE s.account_id = $account_id AND s.entity = $entity
