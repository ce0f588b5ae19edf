-- Patients and their condition codes (InnoDB, utf8mb4). MySQL DDL is not transactional:
-- every statement here creates one table, with its keys, and only if it is missing, so a
-- file interrupted part way can be run again.
--
-- The text columns filters compare (external id, NHS number, sex, postcode, condition
-- code) are VARBINARY: compared and ordered byte by byte, case-sensitive and without
-- the trailing-space padding of MySQL's collations, exactly as SQLite compares text, so
-- a filter selects the same patients on every backend (they hold UTF-8 text; backups
-- read them as text). Dates are DATE, times DATETIME(6) in UTC, flags BOOLEAN. Columns
-- are in the SQLite schema's order, so a backup of either restores into the other.
CREATE TABLE IF NOT EXISTS patients (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    external_id   VARBINARY(255)  NOT NULL,
    nhs_number    VARBINARY(32)   NOT NULL,
    given_name    VARCHAR(255) NOT NULL,
    family_name   VARCHAR(255) NOT NULL,
    date_of_birth DATE         NOT NULL,
    sex           VARBINARY(16)   NOT NULL,
    phone         VARCHAR(32)  NULL,
    email         VARCHAR(320) NULL,
    postcode      VARBINARY(16)   NOT NULL,
    sms_opt_out   BOOLEAN      NOT NULL DEFAULT FALSE,
    email_opt_out BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY patients_external_id (external_id),
    UNIQUE KEY patients_nhs_number (nhs_number),
    KEY patients_by_dob (date_of_birth),
    KEY patients_by_postcode (postcode),
    CONSTRAINT patients_sex CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    CONSTRAINT patients_sms_opt_out CHECK (sms_opt_out IN (0, 1)),
    CONSTRAINT patients_email_opt_out CHECK (email_opt_out IN (0, 1))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE IF NOT EXISTS patient_conditions (
    patient_id BIGINT      NOT NULL,
    code       VARBINARY(64)  NOT NULL,
    PRIMARY KEY (patient_id, code),
    KEY patient_conditions_by_code (code, patient_id),
    CONSTRAINT patient_conditions_patient FOREIGN KEY (patient_id)
        REFERENCES patients (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
