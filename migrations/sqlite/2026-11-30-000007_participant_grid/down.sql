DROP TRIGGER attendance_online;
DROP TRIGGER attendance_mode_changed;
DROP TRIGGER grid_record_counted;
DROP TRIGGER grid_record_removed;
DROP TRIGGER grid_record_added;
DROP TRIGGER grid_person_moved;
DROP TRIGGER grid_person_removed;
DROP TRIGGER grid_person_added;
DROP TABLE participant_grid;

ALTER TABLE participants ADD COLUMN attended INTEGER NOT NULL DEFAULT -1;
UPDATE participants SET attended = COALESCE((
    SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
    WHERE a.participant_id = participants.id AND a.counted), -1);
CREATE INDEX participants_tally
    ON participants (event_id, status, country, mode, category, attended);

CREATE TRIGGER attendance_in_person AFTER INSERT ON attendance
WHEN NEW.mode = 'offline'
BEGIN
    UPDATE participants SET attended = 1 WHERE id = NEW.participant_id AND attended < 1;
END;

CREATE TRIGGER attendance_online AFTER INSERT ON attendance
WHEN NEW.mode = 'online'
BEGIN
    UPDATE attendance SET counted = COALESCE((
        SELECT s.online_min_minutes = 0
            OR COALESCE((SELECT w.seconds_watched FROM watching w
                         WHERE w.participant_id = NEW.participant_id
                           AND w.session_id = NEW.session_id), 0)
               >= s.online_min_minutes * 60
        FROM agenda_sessions s WHERE s.id = NEW.session_id), 0)
    WHERE id = NEW.id;
    UPDATE participants SET attended = 0
    WHERE id = NEW.participant_id AND attended < 0
      AND (SELECT counted FROM attendance WHERE id = NEW.id);
END;

CREATE TRIGGER attendance_mode_changed AFTER UPDATE OF mode ON attendance
WHEN NEW.mode <> OLD.mode
BEGIN
    UPDATE attendance SET counted = (
        NEW.mode = 'offline' OR COALESCE((
            SELECT s.online_min_minutes = 0
                OR COALESCE((SELECT w.seconds_watched FROM watching w
                             WHERE w.participant_id = NEW.participant_id
                               AND w.session_id = NEW.session_id), 0)
                   >= s.online_min_minutes * 60
            FROM agenda_sessions s WHERE s.id = NEW.session_id), 0))
    WHERE id = NEW.id;
    UPDATE participants SET attended = COALESCE((
        SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
        WHERE a.participant_id = NEW.participant_id AND a.counted), -1)
    WHERE id = NEW.participant_id;
END;

CREATE TRIGGER attendance_counted_changed AFTER UPDATE OF counted ON attendance
WHEN NEW.counted <> OLD.counted
BEGIN
    UPDATE participants SET attended = COALESCE((
        SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
        WHERE a.participant_id = NEW.participant_id AND a.counted), -1)
    WHERE id = NEW.participant_id;
END;

CREATE TRIGGER attendance_removed AFTER DELETE ON attendance
BEGIN
    UPDATE participants SET attended = COALESCE((
        SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
        WHERE a.participant_id = OLD.participant_id AND a.counted), -1)
    WHERE id = OLD.participant_id;
END;
