-- amoCRM sync (amocrm/, resolver/store/amocrm.py): connections, resumable imports, write-backs.
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
