-- step keep_merged_marks: a record the CRM merged away stays merged when an import re-sends it (an
-- old export still lists it); only a merge report sets merged_into. Runs on `stage` before the upsert.
UPDATE stage AS s SET merged_into = r.merged_into
FROM records AS r
WHERE r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id
  AND r.merged_into IS NOT NULL;
