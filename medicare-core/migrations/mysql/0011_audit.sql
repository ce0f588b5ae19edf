-- The audit ledger (issue 10): one row per action on patient data or refusal, hash-chained.
-- `seq` is gapless from 1; `hash` = SHA-256(prev_hash || canonical encoding), documented in
-- medicare-core/src/audit/chain.rs. Targets and details hold ids and counts only.
-- `audit_head` is the chain head (one row, made by the first append, so a new database
-- holds no rows and a restore can fill it) that every append moves first: its row lock makes
-- concurrent appends take their turn, so seq stays gapless and the chain linear.
-- One statement per object, created only if missing (MySQL DDL is not transactional).
CREATE TABLE IF NOT EXISTS audit_events (
    seq        BIGINT        NOT NULL,
    at         DATETIME(6)   NOT NULL,
    actor      VARBINARY(128) NOT NULL,
    action     VARCHAR(64)   NOT NULL,
    target     VARBINARY(1024) NOT NULL,
    outcome    VARCHAR(8)    NOT NULL,
    detail     VARBINARY(1024) NOT NULL,
    request_id VARBINARY(128) NOT NULL,
    prev_hash  BINARY(32)    NOT NULL,
    hash       BINARY(32)    NOT NULL,
    PRIMARY KEY (seq),
    CONSTRAINT audit_events_seq CHECK (seq >= 1),
    CONSTRAINT audit_events_outcome CHECK (outcome IN ('ok', 'denied', 'failed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS audit_head (
    id   INT        NOT NULL,
    seq  BIGINT     NOT NULL,
    hash BINARY(32) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT audit_head_one CHECK (id = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;


-- Append-only, whoever connects: UPDATE and DELETE of an event are refused.
DROP TRIGGER IF EXISTS audit_events_no_update;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events FOR EACH ROW
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only';
-- A restore with --replace (an administrator's act) empties the ledger before loading the
-- backup's, flagging its own session with @medicare_restore_replace; the grant set below is
-- what keeps the application from doing the same.
DROP TRIGGER IF EXISTS audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events FOR EACH ROW
BEGIN
    IF COALESCE(@medicare_restore_replace, 0) <> 1 THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_events is append-only';
    END IF;
END;

-- The grant set for the application's own account (run by an administrator;
-- `medicare_app` is an example name). The application may only add and read events,
-- and move the head:
--
--   REVOKE ALL PRIVILEGES ON medicare.audit_events FROM 'medicare_app'@'%';
--   GRANT SELECT, INSERT ON medicare.audit_events TO 'medicare_app'@'%';
--   GRANT SELECT, INSERT, UPDATE ON medicare.audit_head TO 'medicare_app'@'%';
--
-- TRUNCATE and DROP (which fire no triggers) are then the administrator's alone.
