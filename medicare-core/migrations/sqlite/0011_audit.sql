-- The audit ledger (issue 10): one row per action on patient data or refusal, hash-chained.
-- `seq` is gapless from 1; `hash` = SHA-256(prev_hash || canonical encoding), documented in
-- medicare-core/src/audit/chain.rs. Targets and details hold ids and counts only.
-- `audit_head` is the chain head (one row, made by the first append, so a new database
-- holds no rows and a restore can fill it) that every append moves first: concurrent appends
-- serialise on it (SQLite has one writer anyway). Times are RFC 3339 text, as sqlx writes them.
CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
    at         TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail     TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    prev_hash  BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash       BLOB    NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
);

-- Append-only: SQLite has no grants, so triggers refuse every change to a written event.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
