-- Operators (issue 9): accounts, their recovery codes, browser sessions and API tokens.
-- Only hashes of codes, session ids and tokens are stored; the TOTP secret is sealed.
-- One table per statement, created only if missing (MySQL DDL is not transactional).
CREATE TABLE IF NOT EXISTS operators (
    id                   BIGINT         NOT NULL AUTO_INCREMENT,
    username             VARBINARY(64)  NOT NULL,
    display_name         VARCHAR(255)   NOT NULL,
    role                 VARCHAR(32)    NOT NULL,
    status               VARCHAR(16)    NOT NULL,
    password_hash        VARCHAR(255)   NOT NULL,
    totp_secret          BLOB           NOT NULL,
    consecutive_failures BIGINT         NOT NULL DEFAULT 0,
    locks                BIGINT         NOT NULL DEFAULT 0,
    locked_until         DATETIME(6)    NULL,
    last_totp_step       BIGINT         NULL,
    enrolled_at          DATETIME(6)    NULL,
    created_at           DATETIME(6)    NOT NULL,
    last_sign_in_at      DATETIME(6)    NULL,
    PRIMARY KEY (id),
    UNIQUE KEY operators_username (username),
    CONSTRAINT operators_status CHECK (status IN ('pending', 'active', 'disabled')),
    CONSTRAINT operators_counters CHECK (consecutive_failures >= 0 AND locks >= 0 AND last_totp_step >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS operator_recovery_codes (
    operator_id BIGINT     NOT NULL,
    code_hash   BINARY(32) NOT NULL,
    PRIMARY KEY (operator_id, code_hash),
    CONSTRAINT operator_recovery_codes_operator FOREIGN KEY (operator_id)
        REFERENCES operators (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS operator_sessions (
    id_hash          BINARY(32)  NOT NULL,
    operator_id      BIGINT      NOT NULL,
    stage            VARCHAR(16) NOT NULL,
    created_at       DATETIME(6) NOT NULL,
    last_seen_at     DATETIME(6) NOT NULL,
    second_factor_at DATETIME(6) NULL,
    PRIMARY KEY (id_hash),
    KEY operator_sessions_by_operator (operator_id),
    CONSTRAINT operator_sessions_operator FOREIGN KEY (operator_id)
        REFERENCES operators (id) ON DELETE CASCADE,
    CONSTRAINT operator_sessions_stage CHECK (stage IN ('second_factor', 'enrolment', 'active'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS operator_tokens (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    operator_id BIGINT       NOT NULL,
    name        VARCHAR(255) NOT NULL,
    token_hash  BINARY(32)   NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    expires_at  DATETIME(6)  NOT NULL,
    revoked_at  DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY operator_tokens_hash (token_hash),
    KEY operator_tokens_by_operator (operator_id, id),
    CONSTRAINT operator_tokens_operator FOREIGN KEY (operator_id)
        REFERENCES operators (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
