-- The audit ledger (issue 10): one row per action on patient data or refusal, hash-chained.
-- `seq` is gapless from 1; `hash` = SHA-256(prev_hash || canonical encoding), documented in
-- medicare-core/src/audit/chain.rs. Targets and details hold ids and counts only.
-- `audit_head` is the chain head (one row, made by the first append, so a new database
-- holds no rows and a restore can fill it) that every append moves first: its row lock makes
-- concurrent appends take their turn, so seq stays gapless and the chain linear.
CREATE TABLE audit_events (
    seq        BIGINT      PRIMARY KEY CHECK (seq >= 1),
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL,
    action     TEXT        NOT NULL,
    target     TEXT        NOT NULL,
    outcome    TEXT        NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail     TEXT        NOT NULL,
    request_id TEXT        NOT NULL,
    prev_hash  BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
    hash       BYTEA       NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL CHECK (seq >= 0),
    hash BYTEA   NOT NULL CHECK (length(hash) = 32)
);

-- Append-only, whoever connects: UPDATE and DELETE of an event are refused.
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

-- The grant set for the application's own role (run by the owner; `medicare_app` is an
-- example name). The application may only add and read events, and move the head:
--
--   REVOKE ALL ON audit_events, audit_head FROM medicare_app;
--   GRANT SELECT, INSERT ON audit_events TO medicare_app;
--   GRANT SELECT, INSERT, UPDATE ON audit_head TO medicare_app;
--
-- TRUNCATE (which bypasses row triggers) is then the owner's alone, as restoring is.
