-- Follow-up: the non-respondents of each reminder round, frozen when the round is
-- planned (who, why), so a report can say who was reminded when.
CREATE TABLE non_respondents (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    round        INTEGER NOT NULL CHECK (round >= 1),
    recipient_id INTEGER NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
    patient_id   INTEGER NOT NULL REFERENCES patients (id),
    reason       TEXT    NOT NULL CHECK (reason IN ('not_opened', 'opened_not_submitted')),
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (campaign_id, round, recipient_id)
) WITHOUT ROWID;

-- Reports and reminder planning read recipients by campaign and response state.
CREATE INDEX recipients_by_campaign_submitted ON recipients (campaign_id, submitted_at);
