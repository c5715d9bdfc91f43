-- step value_frequency: for one list column of `scan_base`, each record's values split by how many
-- records carry them: `rare` (<= $rare_max records) and `few` (<= $few_max). Placeholders
-- {col} come from the EntitySpec only; the limits are parameters.
WITH exploded AS (
    SELECT unique_id, unnest({col}) AS v FROM scan_base
),
counts AS (
    SELECT v, count(DISTINCT unique_id) AS n FROM exploded GROUP BY v
)
SELECT e.unique_id,
       list(e.v ORDER BY e.v) FILTER (WHERE c.n <= $rare_max) AS {col}_rare,
       list(e.v ORDER BY e.v) FILTER (WHERE c.n <= $few_max) AS {col}_few
FROM exploded AS e JOIN counts AS c USING (v)
GROUP BY e.unique_id
