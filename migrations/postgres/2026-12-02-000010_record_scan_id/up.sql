-- The scan id of a plain first acceptance at the door, kept on the record
-- instead of in a log row of its own (a second row, with its indexes and
-- foreign keys, for most check-ins). Set only when no log row was written
-- for that acceptance: a retry of the scan is recognised from the
-- person's record, which the door batch reads anyway, so no index; an
-- undo, an erasure or a purge writes the acceptance's log row first and
-- clears this. NULL for every other record (joins, upgrades, acceptances
-- with a warning, imports, the demo).
ALTER TABLE attendance ADD COLUMN scan_id TEXT;
