-- Patients without an NHS number (issue 14): records from outside England carry other
-- identifiers. Such a patient is known by its external id alone; NHS numbers stay unique
-- where present (a unique index ignores NULLs).
ALTER TABLE patients ALTER COLUMN nhs_number DROP NOT NULL;
