-- Patients and their condition codes. Dates are ISO-8601 text (YYYY-MM-DD), which
-- SQLite compares correctly as text; flags are 0/1 integers.
CREATE TABLE patients (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT    NOT NULL UNIQUE,
    nhs_number    TEXT    NOT NULL UNIQUE,
    given_name    TEXT    NOT NULL,
    family_name   TEXT    NOT NULL,
    date_of_birth TEXT    NOT NULL,
    sex           TEXT    NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    phone         TEXT,
    email         TEXT,
    postcode      TEXT    NOT NULL,
    sms_opt_out   INTEGER NOT NULL DEFAULT 0 CHECK (sms_opt_out IN (0, 1)),
    email_opt_out INTEGER NOT NULL DEFAULT 0 CHECK (email_opt_out IN (0, 1)),
    created_at    TEXT    NOT NULL
);

CREATE TABLE patient_conditions (
    patient_id INTEGER NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    code       TEXT    NOT NULL,
    PRIMARY KEY (patient_id, code)
) WITHOUT ROWID;

CREATE INDEX patient_conditions_by_code ON patient_conditions (code, patient_id);
CREATE INDEX patients_by_dob ON patients (date_of_birth);
CREATE INDEX patients_by_postcode ON patients (postcode);
