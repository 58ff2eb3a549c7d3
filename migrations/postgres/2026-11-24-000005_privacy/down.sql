ALTER TABLE participants DROP COLUMN anonymised_at;
