ALTER TABLE attendance DROP COLUMN scan_id;
