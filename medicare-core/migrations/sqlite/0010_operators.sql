-- Operators (issue 9): accounts, their recovery codes, browser sessions and API tokens.
-- Only hashes of codes, session ids and tokens are stored; the TOTP secret is sealed.
-- Times are RFC 3339 text, as sqlx writes them; hashes are 32-byte blobs.
CREATE TABLE operators (
    id                   INTEGER PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    display_name         TEXT    NOT NULL,
    role                 TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    password_hash        TEXT    NOT NULL,
    totp_secret          BLOB    NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    locks                INTEGER NOT NULL DEFAULT 0 CHECK (locks >= 0),
    locked_until         TEXT,
    last_totp_step       INTEGER CHECK (last_totp_step >= 0),
    enrolled_at          TEXT,
    created_at           TEXT    NOT NULL,
    last_sign_in_at      TEXT
);

CREATE TABLE operator_recovery_codes (
    operator_id INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    code_hash   BLOB    NOT NULL CHECK (length(code_hash) = 32),
    PRIMARY KEY (operator_id, code_hash)
) WITHOUT ROWID;

CREATE TABLE operator_sessions (
    id_hash          BLOB    PRIMARY KEY CHECK (length(id_hash) = 32),
    operator_id      INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    stage            TEXT    NOT NULL CHECK (stage IN ('second_factor', 'enrolment', 'active')),
    created_at       TEXT    NOT NULL,
    last_seen_at     TEXT    NOT NULL,
    second_factor_at TEXT
) WITHOUT ROWID;

CREATE INDEX operator_sessions_by_operator ON operator_sessions (operator_id);

CREATE TABLE operator_tokens (
    id          INTEGER PRIMARY KEY,
    operator_id INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    token_hash  BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    revoked_at  TEXT
);

CREATE INDEX operator_tokens_by_operator ON operator_tokens (operator_id, id);
