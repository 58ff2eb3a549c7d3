-- Attendance's foreign keys are checked at COMMIT instead of at each row.
-- With an immediate key, a multi-row insert could stop half way, so SQLite
-- copies every page it changes into a statement journal first: for a door
-- batch, ~30 index pages of 4 KiB (BENCHMARKS.md history 31). Deferred, a
-- missing event, person or session still fails the transaction, at its
-- commit. SQLite can't change a constraint in place, so the table is
-- rebuilt with the same rows, ids, indexes and triggers.
CREATE TABLE attendance_rebuilt (
    id INTEGER PRIMARY KEY NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    -- NULL: entry to the event itself rather than to one session.
    session_id INTEGER REFERENCES agenda_sessions(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    mode TEXT NOT NULL CHECK (mode IN ('offline', 'online')),
    source TEXT NOT NULL CHECK (source IN ('door_scan', 'join_link', 'manual', 'import')),
    door TEXT,
    recorded_by TEXT,
    recorded_at BIGINT NOT NULL,
    counted BOOLEAN NOT NULL DEFAULT TRUE
);

INSERT INTO attendance_rebuilt
    (id, event_id, participant_id, session_id, mode, source, door, recorded_by, recorded_at, counted)
SELECT id, event_id, participant_id, session_id, mode, source, door, recorded_by, recorded_at, counted
FROM attendance;

-- Drops the old table's indexes and triggers first, so its rows go without
-- firing any (the participant grid keeps its counts). The rename in legacy
-- mode: other tables' triggers name `attendance`, which for a moment does
-- not exist, and would otherwise stop it.
DROP TABLE attendance;
PRAGMA legacy_alter_table = ON;
ALTER TABLE attendance_rebuilt RENAME TO attendance;
PRAGMA legacy_alter_table = OFF;

-- The indexes and triggers as the earlier migrations left them.
CREATE UNIQUE INDEX attendance_once_per_session
    ON attendance (participant_id, COALESCE(session_id, 0));
CREATE INDEX attendance_event_time ON attendance (event_id, recorded_at);
CREATE INDEX attendance_tally ON attendance (event_id, session_id, mode, counted);
CREATE INDEX attendance_quarter ON attendance (event_id, session_id, recorded_at / 900000);
CREATE TRIGGER grid_record_added AFTER INSERT ON attendance
WHEN NEW.counted
BEGIN
    UPDATE participant_grid SET
        attended = attended + NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = NEW.participant_id AND a.id <> NEW.id AND a.counted),
        in_person = in_person + (NEW.mode = 'offline' AND NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = NEW.participant_id AND a.id <> NEW.id
              AND a.counted AND a.mode = 'offline'))
    WHERE (event_id, status, country, mode, category) = (
        SELECT event_id, status, country, mode, category
        FROM participants WHERE id = NEW.participant_id);
END;
CREATE TRIGGER grid_record_removed AFTER DELETE ON attendance
WHEN OLD.counted
BEGIN
    UPDATE participant_grid SET
        attended = attended - NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = OLD.participant_id AND a.counted),
        in_person = in_person - (OLD.mode = 'offline' AND NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = OLD.participant_id AND a.counted AND a.mode = 'offline'))
    WHERE (event_id, status, country, mode, category) = (
        SELECT event_id, status, country, mode, category
        FROM participants WHERE id = OLD.participant_id);
END;
CREATE TRIGGER grid_record_counted AFTER UPDATE OF counted ON attendance
WHEN NEW.counted <> OLD.counted
BEGIN
    UPDATE participant_grid SET
        attended = attended + (CASE WHEN NEW.counted THEN 1 ELSE -1 END) * NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = NEW.participant_id AND a.id <> NEW.id AND a.counted),
        in_person = in_person + (CASE WHEN NEW.counted THEN 1 ELSE -1 END) * (
            NEW.mode = 'offline' AND NOT EXISTS (
                SELECT 1 FROM attendance a
                WHERE a.participant_id = NEW.participant_id AND a.id <> NEW.id
                  AND a.counted AND a.mode = 'offline'))
    WHERE (event_id, status, country, mode, category) = (
        SELECT event_id, status, country, mode, category
        FROM participants WHERE id = NEW.participant_id);
END;
CREATE TRIGGER attendance_mode_changed AFTER UPDATE OF mode ON attendance
WHEN NEW.mode <> OLD.mode
BEGIN
    UPDATE participant_grid SET
        in_person = in_person + (CASE WHEN NEW.mode = 'offline' THEN 1 ELSE -1 END)
    WHERE OLD.counted AND NOT EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = NEW.participant_id AND a.id <> NEW.id
              AND a.counted AND a.mode = 'offline')
      AND (event_id, status, country, mode, category) = (
            SELECT event_id, status, country, mode, category
            FROM participants WHERE id = NEW.participant_id);
    UPDATE attendance SET counted = (
        NEW.mode = 'offline' OR COALESCE((
            SELECT s.online_min_minutes = 0
                OR COALESCE((SELECT w.seconds_watched FROM watching w
                             WHERE w.participant_id = NEW.participant_id
                               AND w.session_id = NEW.session_id), 0)
                   >= s.online_min_minutes * 60
            FROM agenda_sessions s WHERE s.id = NEW.session_id), 0))
    WHERE id = NEW.id;
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
END;

