ALTER TABLE staff_users DROP COLUMN event_id;
DROP INDEX participants_event_name;
DROP TABLE checkin_log;
DROP TABLE device_token_sessions;
DROP TABLE device_tokens;
ALTER TABLE events DROP COLUMN checkin_grace_minutes;
