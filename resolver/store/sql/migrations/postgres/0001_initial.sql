-- crm-dedup store schema on PostgreSQL: the tables of the DuckDB store (migrations/duckdb/0001_initial.sql),
-- column for column, with PostgreSQL's types (MAP -> jsonb, DOUBLE -> double precision) and the indexes the
-- queries of several processes need. Every table is scoped by account_id (one amoCRM account = one tenant).
CREATE TABLE records (
    account_id      VARCHAR NOT NULL,
    entity          VARCHAR NOT NULL,
    record_id       VARCHAR NOT NULL,
    name            VARCHAR,
    responsible_user_id VARCHAR,
    company_ids     VARCHAR[],
    lead_ids        VARCHAR[],
    open_lead_ids   VARCHAR[],
    created_at      TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ,
    deleted         BOOLEAN NOT NULL DEFAULT false,
    merged_into     VARCHAR,
    ingested_at     TIMESTAMPTZ NOT NULL,
    raw             VARCHAR,
    extra           JSONB,                 -- account-defined fields, raw values: {name: value}
    name_norm       VARCHAR,
    name_tokens     VARCHAR[],
    name_key        VARCHAR,
    first_name      VARCHAR,
    last_name       VARCHAR,
    patronymic      VARCHAR,
    name_source     VARCHAR,
    company_core    VARCHAR,
    name_core       VARCHAR,
    legal_form      VARCHAR,
    inn             VARCHAR,
    domain          VARCHAR,
    phones          VARCHAR[],
    phone           VARCHAR,
    emails          VARCHAR[],
    email           VARCHAR,
    email_domain    VARCHAR
);
CREATE UNIQUE INDEX records_key ON records (account_id, entity, record_id);
-- the check index of every API worker follows the rows written since its last look
CREATE INDEX records_ingested ON records (account_id, entity, ingested_at);

CREATE TABLE decisions (   -- append-only: never updated, never deleted
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    seq         BIGINT NOT NULL,
    left_id     VARCHAR NOT NULL,
    right_id    VARCHAR NOT NULL,
    decision    VARCHAR NOT NULL,
    reviewer    VARCHAR,
    decided_at  TIMESTAMPTZ NOT NULL,
    group_id    VARCHAR
);
-- seq is numbered per account under the account's lock; the index also refuses a clash outright
CREATE UNIQUE INDEX decisions_seq ON decisions (account_id, seq);
CREATE INDEX decisions_pair ON decisions (account_id, entity, left_id, right_id, seq);

CREATE TABLE scans (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    model_version VARCHAR NOT NULL,
    review_threshold DOUBLE PRECISION NOT NULL,
    auto_merge_threshold DOUBLE PRECISION NOT NULL,
    n_records    BIGINT NOT NULL,
    n_pairs      BIGINT NOT NULL,
    n_groups     BIGINT NOT NULL
);
CREATE INDEX scans_last ON scans (account_id, entity, finished_at);

CREATE TABLE pairs (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    left_id      VARCHAR NOT NULL,
    right_id     VARCHAR NOT NULL,
    match_weight DOUBLE PRECISION NOT NULL,
    match_probability DOUBLE PRECISION NOT NULL,
    contributions VARCHAR NOT NULL,
    model_version VARCHAR NOT NULL,
    separated    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX pairs_pair ON pairs (account_id, entity, left_id, right_id);

CREATE TABLE groups (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    group_score  DOUBLE PRECISION NOT NULL,
    size         INTEGER NOT NULL,
    needs_review BOOLEAN NOT NULL,
    review_reasons VARCHAR[] NOT NULL,
    status       VARCHAR NOT NULL,
    survivor_id  VARCHAR NOT NULL,
    merge_plan   VARCHAR NOT NULL
);
CREATE INDEX groups_id ON groups (account_id, group_id);
CREATE INDEX groups_score ON groups (account_id, entity, group_score DESC, group_id);

CREATE TABLE group_members (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,
    is_survivor  BOOLEAN NOT NULL
);
CREATE INDEX group_members_group ON group_members (account_id, entity, group_id);
CREATE INDEX group_members_record ON group_members (account_id, entity, record_id);

CREATE TABLE account_fields (
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,
    source      VARCHAR NOT NULL
);

CREATE TABLE accounts (
    account_id   VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    key_hash     VARCHAR                     -- always NULL: kept so both stores have the same columns
);
CREATE UNIQUE INDEX accounts_id ON accounts (account_id);

CREATE TABLE api_keys (
    key_id       VARCHAR NOT NULL,
    account_id   VARCHAR NOT NULL,
    key_hash     VARCHAR NOT NULL,
    label        VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_id ON api_keys (key_id);
CREATE INDEX api_keys_hash ON api_keys (key_hash);

CREATE TABLE jobs (
    job_id       VARCHAR NOT NULL,
    account_id   VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,
    entity       VARCHAR,
    status       VARCHAR NOT NULL,
    percent      DOUBLE PRECISION NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    result       VARCHAR,
    error        VARCHAR
);
CREATE UNIQUE INDEX jobs_id ON jobs (job_id);
CREATE INDEX jobs_account ON jobs (account_id, kind, status);

CREATE TABLE record_keys (
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,
    record_id   VARCHAR NOT NULL
);
CREATE INDEX record_keys_key ON record_keys (key);
CREATE INDEX record_keys_record ON record_keys (account_id, entity, record_id);

-- groups as the API lists and counts them: see listed_groups in the DuckDB schema (same rows, same order)
CREATE VIEW listed_groups AS
SELECT g.account_id, g.entity, g.group_id, g.group_score, g.needs_review, g.review_reasons, g.status, g.survivor_id,
       count(*)::INTEGER AS size,
       array_agg(m.record_id ORDER BY m.is_survivor DESC, m.record_id) AS record_ids,
       array_agg(r.name ORDER BY m.is_survivor DESC, m.record_id) AS names
FROM groups AS g
JOIN group_members AS m
  ON m.account_id = g.account_id AND m.entity = g.entity AND m.group_id = g.group_id
JOIN records AS r
  ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE g.status = 'merged' OR (NOT r.deleted AND r.merged_into IS NULL)
GROUP BY g.account_id, g.entity, g.group_id, g.group_score, g.needs_review, g.review_reasons, g.status, g.survivor_id
HAVING g.status = 'merged' OR count(*) >= 2;

-- DuckDB's filtered_groups macro: a SQL function the planner inlines, so the account filter reaches the tables
CREATE FUNCTION filtered_groups(account VARCHAR, ent VARCHAR, min_score DOUBLE PRECISION,
                                max_score DOUBLE PRECISION, stat VARCHAR, review BOOLEAN)
RETURNS SETOF listed_groups LANGUAGE sql STABLE AS $$
SELECT * FROM listed_groups
WHERE account_id = account
  AND (ent IS NULL OR entity = ent)
  AND (min_score IS NULL OR group_score >= min_score)
  AND (max_score IS NULL OR group_score <= max_score)
  AND (stat IS NULL OR status = stat)
  AND (review IS NULL OR needs_review = review)
$$;
