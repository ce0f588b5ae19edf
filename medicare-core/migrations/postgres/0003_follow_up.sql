-- Follow-up: the non-respondents of each reminder round, frozen when the round is
-- planned (who, why), so a report can say who was reminded when.
CREATE TABLE non_respondents (
    campaign_id  BIGINT      NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE DEFERRABLE,
    round        INTEGER     NOT NULL CHECK (round >= 1),
    recipient_id BIGINT      NOT NULL REFERENCES recipients (id) ON DELETE CASCADE DEFERRABLE,
    patient_id   BIGINT      NOT NULL REFERENCES patients (id) DEFERRABLE,
    reason       TEXT        NOT NULL CHECK (reason IN ('not_opened', 'opened_not_submitted')),
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (campaign_id, round, recipient_id)
);

-- Reports and reminder planning read recipients by campaign and response state.
CREATE INDEX recipients_by_campaign_submitted ON recipients (campaign_id, submitted_at);
