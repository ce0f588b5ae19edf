-- Follow-up: the non-respondents of each reminder round, frozen when the round is
-- planned (who, why), so a report can say who was reminded when. (The recipients index
-- SQLite adds here is created with the recipients table.)
CREATE TABLE IF NOT EXISTS non_respondents (
    campaign_id  BIGINT      NOT NULL,
    round        INT         NOT NULL,
    recipient_id BIGINT      NOT NULL,
    patient_id   BIGINT      NOT NULL,
    reason       VARCHAR(32) NOT NULL,
    created_at   DATETIME(6) NOT NULL,
    PRIMARY KEY (campaign_id, round, recipient_id),
    CONSTRAINT non_respondents_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE,
    CONSTRAINT non_respondents_recipient FOREIGN KEY (recipient_id)
        REFERENCES recipients (id) ON DELETE CASCADE,
    CONSTRAINT non_respondents_patient FOREIGN KEY (patient_id) REFERENCES patients (id),
    CONSTRAINT non_respondents_round CHECK (round >= 1),
    CONSTRAINT non_respondents_reason CHECK (reason IN ('not_opened', 'opened_not_submitted'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
