-- When a participant's personal data was erased (by them, or by an
-- organiser's purge after the event). The row stays, anonymous, so counts
-- by country, mode and session stay true.
ALTER TABLE participants ADD COLUMN anonymised_at BIGINT;
