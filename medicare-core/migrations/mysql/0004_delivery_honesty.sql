-- What a send knows about each delivery beyond its status (issue 16):
-- maybe_duplicate: an earlier attempt may have reached the provider (a timeout or 5xx
--   after the request went out, or a requeue after a crash), so a later "sent" may
--   have reached the patient twice; kept over every resume.
-- transient: a failure that was a provider or network fault (given up after retries),
--   which `retry-failed` may send again; permanent failures never are.
ALTER TABLE deliveries ADD COLUMN maybe_duplicate INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN transient INTEGER NOT NULL DEFAULT 0;
