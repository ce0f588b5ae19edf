-- Patients without an NHS number (issue 14): records from outside England carry other
-- identifiers. Such a patient is known by its external id alone; NHS numbers stay unique
-- where present (a unique key allows any number of NULLs). One statement, safe to run
-- again.
ALTER TABLE patients MODIFY nhs_number VARBINARY(32) NULL;
