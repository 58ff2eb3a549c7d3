DROP INDEX participants_unfolded;
ALTER TABLE participants DROP COLUMN name_folded;
