-- The widget's merges (before-images for undo), its allow-list and "create anyway" decisions (resolver/store/merges.py).

CREATE TABLE IF NOT EXISTS merge_images (    -- the before-image of every record a reported merge absorbed
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    merge_id     VARCHAR NOT NULL,           -- public id of one absorbed record's merge, mg_<hex>
    group_id     VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,           -- the absorbed record
    survivor_id  VARCHAR NOT NULL,
    merged_at    TIMESTAMPTZ NOT NULL,       -- purged once older than the retention (merge_retention_days)
    merged_by    VARCHAR,                    -- the widget token's amoCRM user; NULL for an API key
    image        VARCHAR NOT NULL,           -- JSON: name, responsible, phones, emails, links, the raw API v4 object
    restored_at  TIMESTAMPTZ,
    restored_as  VARCHAR,                    -- the id the CRM gave the re-created record
    restored_by  VARCHAR
);

CREATE TABLE IF NOT EXISTS widget_settings (  -- one row per account, written by an admin from the widget
    account_id    VARCHAR NOT NULL,
    allowed_users VARCHAR NOT NULL,          -- JSON list of amoCRM user ids allowed to search and merge
    entities      VARCHAR NOT NULL,          -- JSON list: contacts, companies
    sound         BOOLEAN NOT NULL,
    run_cap       INTEGER NOT NULL,          -- groups one automatic run merges at most
    updated_at    TIMESTAMPTZ NOT NULL,
    updated_by    VARCHAR
);

CREATE TABLE IF NOT EXISTS pending_decisions (  -- "create anyway": not_duplicate once the new record arrives
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    pending_id   VARCHAR NOT NULL,
    record_ids   VARCHAR NOT NULL,           -- JSON list: the stored records the user said it is not
    phones       VARCHAR NOT NULL,           -- JSON list of normalized phones typed into the new card
    emails       VARCHAR NOT NULL,           -- JSON list of normalized emails
    reviewer     VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    applied_at   TIMESTAMPTZ,
    applied_to   VARCHAR                     -- the new record's id
);
