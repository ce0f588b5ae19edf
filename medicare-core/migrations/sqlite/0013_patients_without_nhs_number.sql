-- Patients without an NHS number (issue 14): records from outside England carry other
-- identifiers. Such a patient is known by its external id alone; NHS numbers stay unique
-- where present (a UNIQUE column allows any number of NULLs).
--
-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt (same ids) in the
-- migration's transaction. Foreign keys stay on but are checked at commit, when the new
-- table holds every id the old one did; the conditions, which the drop deletes by
-- cascade, are kept aside and put back.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE patients_0013 (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT    NOT NULL UNIQUE,
    nhs_number    TEXT    UNIQUE,
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
INSERT INTO patients_0013 (id, external_id, nhs_number, given_name, family_name,
    date_of_birth, sex, phone, email, postcode, sms_opt_out, email_opt_out, created_at)
SELECT id, external_id, nhs_number, given_name, family_name, date_of_birth, sex, phone,
    email, postcode, sms_opt_out, email_opt_out, created_at
FROM patients;
CREATE TEMP TABLE patient_conditions_0013 AS SELECT patient_id, code FROM patient_conditions;
DROP TABLE patients;
ALTER TABLE patients_0013 RENAME TO patients;
INSERT INTO patient_conditions (patient_id, code)
SELECT patient_id, code FROM patient_conditions_0013;
DROP TABLE patient_conditions_0013;
CREATE INDEX patients_by_dob ON patients (date_of_birth);
CREATE INDEX patients_by_postcode ON patients (postcode);
