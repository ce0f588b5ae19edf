-- Forms, campaigns, their frozen recipients and the delivery queue.
CREATE TABLE forms (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    spec_json      TEXT NOT NULL,
    response_table TEXT NOT NULL,
    page_location  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE campaigns (
    id              INTEGER PRIMARY KEY,
    name            TEXT    NOT NULL,
    form_id         INTEGER NOT NULL REFERENCES forms (id),
    filter          TEXT    NOT NULL,
    channels        TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('draft', 'sending', 'sent', 'cancelled')),
    messages_json   TEXT    NOT NULL,
    link_expires_at TEXT    NOT NULL,
    created_at      TEXT    NOT NULL
);

-- One row per patient per campaign: contact details frozen at creation, the link (only
-- its nonce and the token's hash), and what the patient did with it.
CREATE TABLE recipients (
    id              INTEGER PRIMARY KEY,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    given_name      TEXT    NOT NULL,
    phone           TEXT,
    email           TEXT,
    link_nonce      BLOB    NOT NULL CHECK (length(link_nonce) = 16),
    token_hash      BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    first_opened_at TEXT,
    open_count      INTEGER NOT NULL DEFAULT 0,
    submitted_at    TEXT,
    UNIQUE (campaign_id, patient_id)
);

-- One row per (recipient, channel, round): the unit that is sent at most once.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    channel      TEXT    NOT NULL CHECK (channel IN ('sms', 'email')),
    round        INTEGER NOT NULL DEFAULT 0,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'suppressed')),
    reason       TEXT,
    provider_id  TEXT,
    segments     INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    updated_at   TEXT,
    -- Led by campaign_id, so it also serves every per-campaign count and scan.
    UNIQUE (campaign_id, recipient_id, channel, round)
);

-- The send queue holds pending rows only: claiming a row drops it from the index, and
-- recording an outcome touches no index at all (status is in no other key).
CREATE INDEX deliveries_queue ON deliveries (campaign_id, round, channel, id) WHERE status = 'pending';
