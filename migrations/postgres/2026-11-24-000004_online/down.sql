DROP TABLE watching;
ALTER TABLE agenda_sessions DROP COLUMN online_min_minutes;
ALTER TABLE agenda_sessions DROP COLUMN join_closes_minutes;
ALTER TABLE agenda_sessions DROP COLUMN join_opens_minutes;
