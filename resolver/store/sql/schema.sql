-- crm-dedup store schema; every table is scoped by account_id (one amoCRM account = one tenant)
CREATE TABLE IF NOT EXISTS records (
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
    raw             VARCHAR,             -- the source object as received, JSON text
    extra           MAP(VARCHAR, VARCHAR), -- account-defined fields, raw values
    -- normalized columns (union of both entities; the EntitySpec says which apply)
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

CREATE TABLE IF NOT EXISTS decisions (   -- append-only: never updated, never deleted
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    seq         BIGINT NOT NULL,
    left_id     VARCHAR NOT NULL,
    right_id    VARCHAR NOT NULL,
    decision    VARCHAR NOT NULL,        -- not_duplicate | duplicate | undo
    reviewer    VARCHAR,
    decided_at  TIMESTAMPTZ NOT NULL,
    group_id    VARCHAR
);

CREATE TABLE IF NOT EXISTS scans (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    model_version VARCHAR NOT NULL,
    review_threshold DOUBLE NOT NULL,
    auto_merge_threshold DOUBLE NOT NULL,
    n_records    BIGINT NOT NULL,
    n_pairs      BIGINT NOT NULL,
    n_groups     BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS pairs (       -- the last scan's scored pairs
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    left_id      VARCHAR NOT NULL,
    right_id     VARCHAR NOT NULL,
    match_weight DOUBLE NOT NULL,
    match_probability DOUBLE NOT NULL,
    contributions VARCHAR NOT NULL,      -- JSON list of {field, level, gamma, match_weight}
    model_version VARCHAR NOT NULL,
    separated    BOOLEAN NOT NULL DEFAULT false  -- a reviewer's not_duplicate in force: kept for an undo
);
-- stores made before the column existed
ALTER TABLE pairs ADD COLUMN IF NOT EXISTS separated BOOLEAN DEFAULT false;

CREATE TABLE IF NOT EXISTS groups (      -- the last scan's groups
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    group_score  DOUBLE NOT NULL,
    size         INTEGER NOT NULL,
    needs_review BOOLEAN NOT NULL,
    review_reasons VARCHAR[] NOT NULL,
    status       VARCHAR NOT NULL,       -- open | merged
    survivor_id  VARCHAR NOT NULL,
    merge_plan   VARCHAR NOT NULL        -- JSON, see resolver/merge_plan.py
);

CREATE TABLE IF NOT EXISTS group_members (
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    group_id     VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,
    is_survivor  BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS account_fields (  -- an account's own fields added to matching
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    name        VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,            -- text | date | identifier
    source      VARCHAR NOT NULL             -- CSV header, or amoCRM custom field name / id
);

CREATE TABLE IF NOT EXISTS accounts (        -- one amoCRM account = one tenant
    account_id   VARCHAR NOT NULL,           -- the name given at creation (also the amoCRM subdomain or id)
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (        -- an account's API keys: several at once, each revocable
    key_id       VARCHAR NOT NULL,           -- public name of a key (lists, revoke); not a secret
    account_id   VARCHAR NOT NULL,
    key_hash     VARCHAR NOT NULL,           -- sha256 of the API key; the key itself is never stored
    label        VARCHAR,                    -- what the key is for ("widget", "1c-sync"), the creator's words
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,                -- refused from this moment on; the row stays as a record
    last_used_at TIMESTAMPTZ                 -- refreshed at most once a minute (resolver/accounts.py)
);
-- stores made when an account had one key, in accounts.key_hash: that key becomes a key row (same hash, so
-- it keeps working) and the old column is emptied. New stores get the column too, always NULL, so these
-- statements run on every store alike.
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS key_hash VARCHAR;
ALTER TABLE accounts ALTER COLUMN key_hash DROP NOT NULL;
INSERT INTO api_keys (key_id, account_id, key_hash, label, created_at)
SELECT 'key_' || substr(replace(gen_random_uuid()::VARCHAR, '-', ''), 1, 12), a.account_id, a.key_hash, 'migrated',
       a.created_at
FROM accounts AS a
WHERE a.key_hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM api_keys AS k WHERE k.key_hash = a.key_hash);
UPDATE accounts SET key_hash = NULL WHERE key_hash IS NOT NULL;

CREATE TABLE IF NOT EXISTS jobs (
    job_id       VARCHAR NOT NULL,
    account_id   VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,           -- scan | retrain
    entity       VARCHAR,
    status       VARCHAR NOT NULL,           -- queued | running | done | failed
    percent      DOUBLE NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    result       VARCHAR,                    -- JSON: counts of a finished job
    error        VARCHAR
);

CREATE TABLE IF NOT EXISTS record_keys (     -- blocking keys per record: the real-time check's index
    account_id  VARCHAR NOT NULL,
    entity      VARCHAR NOT NULL,
    key         VARCHAR NOT NULL,            -- "<column>:<value>", e.g. "phones:+79161234567"
    record_id   VARCHAR NOT NULL
);

-- point lookups of the real-time check: a key -> records, then a record's row (ART indexes)
CREATE INDEX IF NOT EXISTS record_keys_key ON record_keys (key);
CREATE INDEX IF NOT EXISTS records_record_id ON records (record_id);

-- groups as the API lists and counts them (groups_page, groups_summary): an open group shows only the
-- records still live (not deleted, not merged away since the scan) and needs two of them; a merged
-- group keeps every member, as the widget reported it. Members survivor first.
CREATE OR REPLACE VIEW listed_groups AS
SELECT g.account_id, g.entity, g.group_id, g.group_score, g.needs_review, g.review_reasons, g.status, g.survivor_id,
       count(*)::INTEGER AS size, list(m.record_id ORDER BY m.is_survivor DESC, m.record_id) AS record_ids,
       list(r.name ORDER BY m.is_survivor DESC, m.record_id) AS names
FROM groups AS g
JOIN group_members AS m
  ON m.account_id = g.account_id AND m.entity = g.entity AND m.group_id = g.group_id
JOIN records AS r
  ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id
WHERE g.status = 'merged' OR (NOT r.deleted AND r.merged_into IS NULL)
GROUP BY g.account_id, g.entity, g.group_id, g.group_score, g.needs_review, g.review_reasons, g.status, g.survivor_id
HAVING g.status = 'merged' OR count(*) >= 2;

-- listed_groups under the filters of GET /v1/groups (a NULL filter means "any"), one definition for
-- the list (groups_page) and its counts (groups_summary)
CREATE OR REPLACE MACRO filtered_groups(account, ent, min_score, max_score, stat, review) AS TABLE
SELECT * FROM listed_groups
WHERE account_id = account
  AND (ent::VARCHAR IS NULL OR entity = ent)
  AND (min_score::DOUBLE IS NULL OR group_score >= min_score)
  AND (max_score::DOUBLE IS NULL OR group_score <= max_score)
  AND (stat::VARCHAR IS NULL OR status = stat)
  AND (review::BOOLEAN IS NULL OR needs_review = review);

-- amoCRM connections (amocrm/sync.py, resolver/store/amocrm.py); standard SQL, so a PostgreSQL store reuses it.
-- account_id is the amoCRM account's id as text: the widget's token names it.
CREATE TABLE IF NOT EXISTS amocrm_connections (
    account_id          VARCHAR NOT NULL,
    subdomain           VARCHAR NOT NULL,
    api_base            VARCHAR NOT NULL,        -- https://SUBDOMAIN.amocrm.ru, or CRM_DEDUP_AMOCRM_BASE_URL
    country             VARCHAR,                 -- the account's country as amoCRM reports it
    region              VARCHAR NOT NULL,        -- default phone region derived from it (ISO 3166)
    status              VARCHAR NOT NULL,        -- connected | needs_reinstall | uninstalled
    status_reason       VARCHAR,
    tokens              VARCHAR,                 -- Fernet(access, refresh, expiry); NULL when not connected
    webhook_secret_hash VARCHAR,                 -- sha256 of the secret in the webhook URL; the secret is not kept
    webhook_destination VARCHAR,                 -- Fernet(the webhook URL), to unsubscribe on uninstall
    write_back          BOOLEAN NOT NULL,        -- tag and note new duplicates in amoCRM
    tag                 VARCHAR NOT NULL,
    installed_at        TIMESTAMPTZ NOT NULL,
    status_at           TIMESTAMPTZ NOT NULL,
    last_webhook_at     TIMESTAMPTZ,
    last_catchup_at     TIMESTAMPTZ,
    catchup_from        BIGINT,                  -- unix seconds: the next catch-up asks for updated_at >= this
    records_pulled      BIGINT NOT NULL          -- records read from amoCRM (import, webhooks, catch-up)
);

CREATE TABLE IF NOT EXISTS amocrm_imports (     -- the initial import's place per entity: resumable
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    next_page    VARCHAR,                        -- path and query of the next page; NULL: start (or done)
    pages_done   INTEGER NOT NULL,
    records      BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,                -- unix seconds; the catch-up starts from here
    finished     BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS amocrm_writebacks (  -- what crm-dedup told amoCRM about a record
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,
    tagged       BOOLEAN NOT NULL,               -- our tag is on the record in amoCRM
    noted        VARCHAR,                        -- the match ids last written in a note, sorted, comma-joined
    pending      BOOLEAN NOT NULL,               -- a write that has not reached amoCRM yet (retried)
    error        VARCHAR,
    updated_at   TIMESTAMPTZ NOT NULL
);
