-- step value_frequency: for one list column of `scan_base`, each record's values split by how many
-- different names carry them: `rare` (<= $rare_max names) and `few` (<= $few_max). A person with
-- five call-created copies is one name on one phone; ten teachers on one email are ten names.
-- Records without a name (auto-created ones) add no name. {col}/{name_col} come from the EntitySpec.
WITH exploded AS (
    SELECT unique_id, {name_col} AS who, unnest({col}) AS v FROM scan_base
),
counts AS (
    SELECT v, count(DISTINCT who) AS n FROM exploded GROUP BY v
)
SELECT e.unique_id,
       list(e.v ORDER BY e.v) FILTER (WHERE c.n <= $rare_max) AS {col}_rare,
       list(e.v ORDER BY e.v) FILTER (WHERE c.n <= $few_max) AS {col}_few
FROM exploded AS e JOIN counts AS c USING (v)
GROUP BY e.unique_id
