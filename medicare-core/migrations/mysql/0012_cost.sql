-- What a campaign costs (issue 15).
-- campaigns.strategy: which channels go when (both, email_first, sms_only, email_only).
-- campaigns.budget_micros: the spend cap in millionths of a pound (NULL: no cap).
-- campaigns.second_wave_hours: email_first only, how long after the first send the SMS
--   second wave may go to those who have not opened their link.
-- campaigns.reach_json: who each channel could reach, counted at creation, so a preview
--   can price every strategy.
-- deliveries.sent_segments / unit_price_micros / cost_micros: what a sent message was
--   billed as (segments, the price in force), recorded with its outcome; cost_micros is
--   also reserved when a capped campaign's delivery is claimed, and 0 when it failed.
ALTER TABLE campaigns ADD COLUMN strategy VARCHAR(16) NOT NULL DEFAULT 'both'
    CHECK (strategy IN ('both', 'email_first', 'sms_only', 'email_only'));
ALTER TABLE campaigns ADD COLUMN budget_micros BIGINT CHECK (budget_micros >= 0);
ALTER TABLE campaigns ADD COLUMN second_wave_hours INT CHECK (second_wave_hours >= 1);
ALTER TABLE campaigns ADD COLUMN reach_json TEXT;
ALTER TABLE deliveries ADD COLUMN sent_segments INT;
ALTER TABLE deliveries ADD COLUMN unit_price_micros BIGINT;
ALTER TABLE deliveries ADD COLUMN cost_micros BIGINT;
