-- Flags the report and the live numbers read instead of joining every
-- attendance record to its session and watched time: at 100,000 people and
-- 500,000 records the joins took a second, the flags a few milliseconds.
-- Triggers keep them true whatever writes the rows (door batches, join
-- links, undo, presence flushes, session edits, imports, the demo).

-- Whether this record counts as attended: in person always; online once
-- the session's minimum minutes have been watched.
ALTER TABLE attendance ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;
-- What this person attended, counted records only: 1 in person (at least
-- once), 0 online only, -1 nothing yet.
ALTER TABLE participants ADD COLUMN attended INTEGER NOT NULL DEFAULT -1;

UPDATE attendance SET counted = (
    mode = 'offline' OR COALESCE((
        SELECT s.online_min_minutes = 0
            OR COALESCE((SELECT w.seconds_watched FROM watching w
                         WHERE w.participant_id = attendance.participant_id
                           AND w.session_id = attendance.session_id), 0)
               >= s.online_min_minutes * 60
        FROM agenda_sessions s WHERE s.id = attendance.session_id), 0));
UPDATE participants SET attended = COALESCE((
    SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
    WHERE a.participant_id = participants.id AND a.counted), -1);

-- Covering indexes: each aggregate reads one index, never the rows.
DROP INDEX attendance_event_session;
CREATE INDEX attendance_tally ON attendance (event_id, session_id, mode, counted);
DROP INDEX watching_event_seen;
CREATE INDEX watching_tally ON watching (event_id, session_id, last_seen, seconds_watched);
CREATE INDEX attendance_quarter ON attendance (event_id, session_id, recorded_at / 900000);
CREATE INDEX participants_tally
    ON participants (event_id, status, country, mode, category, attended);

-- In person: the commonest write (every first scan at a door), kept cheap.
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

-- An online record upgraded to in person (or back), or counted after enough
-- minutes: the record's flag, then the person's.
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

-- Undo at the door, or an erased record: the person's flag again.
CREATE TRIGGER attendance_removed AFTER DELETE ON attendance
BEGIN
    UPDATE participants SET attended = COALESCE((
        SELECT MAX(CASE WHEN a.mode = 'offline' THEN 1 ELSE 0 END) FROM attendance a
        WHERE a.participant_id = OLD.participant_id AND a.counted), -1)
    WHERE id = OLD.participant_id;
END;

-- Watched time crossing the session's minimum counts the online record.
CREATE TRIGGER watching_added AFTER INSERT ON watching
BEGIN
    UPDATE attendance SET counted = 1
    WHERE participant_id = NEW.participant_id AND session_id = NEW.session_id
      AND mode = 'online' AND NOT counted
      AND NEW.seconds_watched >= (SELECT online_min_minutes * 60 FROM agenda_sessions
                                  WHERE id = NEW.session_id);
END;

CREATE TRIGGER watching_grew AFTER UPDATE OF seconds_watched ON watching
WHEN NEW.seconds_watched <> OLD.seconds_watched
BEGIN
    UPDATE attendance SET counted = 1
    WHERE participant_id = NEW.participant_id AND session_id = NEW.session_id
      AND mode = 'online' AND NOT counted
      AND NEW.seconds_watched >= (SELECT online_min_minutes * 60 FROM agenda_sessions
                                  WHERE id = NEW.session_id);
END;

-- An organiser changing a session's minimum recounts its online records.
CREATE TRIGGER session_minimum_changed AFTER UPDATE OF online_min_minutes ON agenda_sessions
WHEN NEW.online_min_minutes <> OLD.online_min_minutes
BEGIN
    UPDATE attendance SET counted = (
        NEW.online_min_minutes = 0
        OR COALESCE((SELECT w.seconds_watched FROM watching w
                     WHERE w.participant_id = attendance.participant_id
                       AND w.session_id = attendance.session_id), 0)
           >= NEW.online_min_minutes * 60)
    WHERE session_id = NEW.id AND mode = 'online';
END;

-- Seats taken by live registrations, per session and seat: read on every
-- view of the registration page and by the report, where counting them
-- meant joining every seat to its participant for the status.
CREATE TABLE session_seats (
    session_id INTEGER NOT NULL REFERENCES agenda_sessions(id) ON DELETE CASCADE,
    seat TEXT NOT NULL CHECK (seat IN ('offline', 'online')),
    taken BIGINT NOT NULL,
    PRIMARY KEY (session_id, seat)
);
INSERT INTO session_seats (session_id, seat, taken)
SELECT ps.session_id, ps.seat, COUNT(*)
FROM participant_sessions ps JOIN participants p ON p.id = ps.participant_id
WHERE p.status = 'registered'
GROUP BY ps.session_id, ps.seat;

CREATE TRIGGER seat_taken AFTER INSERT ON participant_sessions
WHEN (SELECT status FROM participants WHERE id = NEW.participant_id) = 'registered'
BEGIN
    INSERT INTO session_seats (session_id, seat, taken) VALUES (NEW.session_id, NEW.seat, 1)
    ON CONFLICT (session_id, seat) DO UPDATE SET taken = taken + 1;
END;

CREATE TRIGGER seat_given_back AFTER DELETE ON participant_sessions
WHEN (SELECT status FROM participants WHERE id = OLD.participant_id) = 'registered'
BEGIN
    UPDATE session_seats SET taken = taken - 1
    WHERE session_id = OLD.session_id AND seat = OLD.seat;
END;

CREATE TRIGGER seat_changed AFTER UPDATE OF seat ON participant_sessions
WHEN NEW.seat <> OLD.seat
 AND (SELECT status FROM participants WHERE id = NEW.participant_id) = 'registered'
BEGIN
    UPDATE session_seats SET taken = taken - 1
    WHERE session_id = OLD.session_id AND seat = OLD.seat;
    INSERT INTO session_seats (session_id, seat, taken) VALUES (NEW.session_id, NEW.seat, 1)
    ON CONFLICT (session_id, seat) DO UPDATE SET taken = taken + 1;
END;

-- A cancellation gives back every seat the person held.
CREATE TRIGGER seats_on_status AFTER UPDATE OF status ON participants
WHEN NEW.status <> OLD.status
BEGIN
    INSERT INTO session_seats (session_id, seat, taken)
    SELECT session_id, seat, CASE WHEN NEW.status = 'registered' THEN 1 ELSE -1 END
    FROM participant_sessions WHERE participant_id = NEW.id
    ON CONFLICT (session_id, seat) DO UPDATE SET taken = taken + excluded.taken;
END;
