-- What an incremental scan needs from the last full one (resolver/incremental.py, resolver/store/scanstate.py).

CREATE TABLE IF NOT EXISTS scan_state (      -- one row per (account, entity): the last full or incremental scan
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    scan_id      VARCHAR NOT NULL,
    snapshot     TIMESTAMPTZ,                -- the newest records.ingested_at the scan read; later stamps are changes
    model_key    VARCHAR NOT NULL,           -- model version + a hash of its settings and thresholds
    n_base       BIGINT NOT NULL,            -- live records scored (the prior's base size, before rounding)
    totals       VARCHAR NOT NULL            -- JSON: column -> non-null values (term-frequency denominators)
);

CREATE TABLE IF NOT EXISTS scan_records (    -- each scanned record's count-sensitive values, "<column>:<value>"
    account_id   VARCHAR NOT NULL,
    entity       VARCHAR NOT NULL,
    record_id    VARCHAR NOT NULL,
    vals         VARCHAR[] NOT NULL
);
