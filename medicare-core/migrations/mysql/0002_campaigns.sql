-- Forms, campaigns, their frozen recipients and the delivery queue. One table per
-- statement, created only if missing (MySQL DDL is not transactional).
CREATE TABLE IF NOT EXISTS forms (
    id             BIGINT       NOT NULL AUTO_INCREMENT,
    name           VARBINARY(255)  NOT NULL,
    spec_json      MEDIUMTEXT   NOT NULL,
    response_table VARCHAR(64)  NOT NULL,
    page_location  TEXT         NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY forms_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS campaigns (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    name            VARCHAR(255) NOT NULL,
    form_id         BIGINT       NOT NULL,
    filter          TEXT         NOT NULL,
    channels        VARCHAR(64)  NOT NULL,
    state           VARCHAR(16)  NOT NULL,
    messages_json   MEDIUMTEXT   NOT NULL,
    link_expires_at DATETIME(6)  NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT campaigns_form FOREIGN KEY (form_id) REFERENCES forms (id),
    CONSTRAINT campaigns_state CHECK (state IN ('draft', 'sending', 'sent', 'cancelled'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per patient per campaign: contact details frozen at creation, the link (only
-- its nonce and the token's hash), and what the patient did with it. Reports and
-- reminder planning read recipients by campaign and response state.
CREATE TABLE IF NOT EXISTS recipients (
    id              BIGINT       NOT NULL AUTO_INCREMENT,
    campaign_id     BIGINT       NOT NULL,
    patient_id      BIGINT       NOT NULL,
    given_name      VARCHAR(255) NOT NULL,
    phone           VARCHAR(32)  NULL,
    email           VARCHAR(320) NULL,
    link_nonce      BINARY(16)   NOT NULL,
    token_hash      BINARY(32)   NOT NULL,
    first_opened_at DATETIME(6)  NULL,
    open_count      INT          NOT NULL DEFAULT 0,
    submitted_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY recipients_token_hash (token_hash),
    UNIQUE KEY recipients_once (campaign_id, patient_id),
    KEY recipients_by_campaign_submitted (campaign_id, submitted_at),
    CONSTRAINT recipients_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE,
    CONSTRAINT recipients_patient FOREIGN KEY (patient_id) REFERENCES patients (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per (recipient, channel, round): the unit that is sent at most once.
--
-- MySQL has no partial index, so the send queue is an index led by what a claim seeks
-- (campaign, round, channel, status) and ordered by id: a claim of pending rows reads
-- only pending rows, oldest first, and a shard's claim filters on recipient_id without
-- leaving the index.
CREATE TABLE IF NOT EXISTS deliveries (
    id           BIGINT      NOT NULL AUTO_INCREMENT,
    campaign_id  BIGINT      NOT NULL,
    recipient_id BIGINT      NOT NULL,
    channel      VARCHAR(8)  NOT NULL,
    round        INT         NOT NULL DEFAULT 0,
    status       VARCHAR(16) NOT NULL,
    reason       TEXT        NULL,
    provider_id  TEXT        NULL,
    segments     INT         NOT NULL DEFAULT 0,
    attempts     INT         NOT NULL DEFAULT 0,
    updated_at   DATETIME(6) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY deliveries_once (campaign_id, recipient_id, channel, round),
    KEY deliveries_queue (campaign_id, round, channel, status, id, recipient_id),
    CONSTRAINT deliveries_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_recipient FOREIGN KEY (recipient_id)
        REFERENCES recipients (id) ON DELETE CASCADE,
    CONSTRAINT deliveries_channel CHECK (channel IN ('sms', 'email')),
    CONSTRAINT deliveries_status
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
