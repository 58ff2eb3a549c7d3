-- Flags the report and the live numbers read instead of joining every
-- attendance record to its session and watched time: at 100,000 people and
-- 500,000 records the joins took most of a second. Triggers keep them true
-- whatever writes the rows (door batches, join links, undo, presence
-- flushes, session edits, imports, the demo).

-- Whether this record counts as attended: in person always; online once
-- the session's minimum minutes have been watched.
ALTER TABLE attendance ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;
-- What this person attended, counted records only: 1 in person (at least
-- once), 0 online only, -1 nothing yet. Not indexed, and the table leaves
-- room on each page, so setting it is a HOT update that touches no index.
ALTER TABLE participants ADD COLUMN attended INTEGER NOT NULL DEFAULT -1;
ALTER TABLE participants SET (fillfactor = 85);

-- Whether an online record of this person for this session counts.
CREATE FUNCTION rollcall_online_counts(person INTEGER, session INTEGER) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT s.online_min_minutes = 0
            OR COALESCE((SELECT w.seconds_watched FROM watching w
                         WHERE w.participant_id = person AND w.session_id = session), 0)
               >= s.online_min_minutes * 60
        FROM agenda_sessions s WHERE s.id = session), FALSE)
$$;

-- What this person attended, from their counted records.
CREATE FUNCTION rollcall_attended(person INTEGER) RETURNS INTEGER
LANGUAGE sql STABLE AS $$
    SELECT COALESCE(MAX(CASE WHEN mode = 'offline' THEN 1 ELSE 0 END), -1)
    FROM attendance WHERE participant_id = person AND counted
$$;

UPDATE attendance SET counted = rollcall_online_counts(participant_id, session_id)
WHERE mode = 'online';
UPDATE participants SET attended = rollcall_attended(id)
WHERE id IN (SELECT participant_id FROM attendance);

-- Covering indexes: the per-session counts and watching read an index, not
-- the rows.
DROP INDEX attendance_event_session;
CREATE INDEX attendance_tally ON attendance (event_id, session_id, mode, counted);
DROP INDEX watching_event_seen;
CREATE INDEX watching_tally ON watching (event_id, session_id, last_seen, seconds_watched);

-- A record's flag as it is written: in person counts; online by the rule.
CREATE FUNCTION attendance_set_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.counted := NEW.mode = 'offline'
        OR rollcall_online_counts(NEW.participant_id, NEW.session_id);
    RETURN NEW;
END $$;
CREATE TRIGGER attendance_online BEFORE INSERT ON attendance
    FOR EACH ROW WHEN (NEW.mode = 'online') EXECUTE FUNCTION attendance_set_counted();
CREATE TRIGGER attendance_mode_changed BEFORE UPDATE OF mode ON attendance
    FOR EACH ROW WHEN (NEW.mode IS DISTINCT FROM OLD.mode)
    EXECUTE FUNCTION attendance_set_counted();

-- A door batch inserts hundreds of records in one statement: one UPDATE for
-- all their people, not one per row.
CREATE FUNCTION attendance_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE participants p SET attended = x.best
    FROM (SELECT participant_id, MAX(CASE WHEN mode = 'offline' THEN 1 ELSE 0 END) AS best
          FROM inserted WHERE counted GROUP BY participant_id) x
    WHERE p.id = x.participant_id AND p.attended < x.best;
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_inserted AFTER INSERT ON attendance
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION attendance_inserted();

-- Undo at the door: the people's flags again.
CREATE FUNCTION attendance_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE participants SET attended = rollcall_attended(id)
    WHERE id IN (SELECT participant_id FROM removed);
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_removed AFTER DELETE ON attendance
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION attendance_removed();

-- A record upgraded to in person, or counted after enough minutes.
CREATE FUNCTION attendance_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE participants SET attended = rollcall_attended(NEW.participant_id)
    WHERE id = NEW.participant_id;
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_changed AFTER UPDATE OF counted, mode ON attendance
    FOR EACH ROW WHEN (NEW.counted IS DISTINCT FROM OLD.counted OR NEW.mode IS DISTINCT FROM OLD.mode)
    EXECUTE FUNCTION attendance_changed();

-- Watched time crossing the session's minimum counts the online record.
CREATE FUNCTION watching_grew() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attendance a SET counted = TRUE
    FROM agenda_sessions s
    WHERE a.participant_id = NEW.participant_id AND a.session_id = NEW.session_id
      AND a.mode = 'online' AND NOT a.counted
      AND s.id = NEW.session_id AND NEW.seconds_watched >= s.online_min_minutes * 60;
    RETURN NULL;
END $$;
CREATE TRIGGER watching_grew AFTER INSERT OR UPDATE OF seconds_watched ON watching
    FOR EACH ROW EXECUTE FUNCTION watching_grew();

-- An organiser changing a session's minimum recounts its online records.
CREATE FUNCTION session_minimum_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attendance SET counted = rollcall_online_counts(participant_id, session_id)
    WHERE session_id = NEW.id AND mode = 'online';
    RETURN NULL;
END $$;
CREATE TRIGGER session_minimum_changed AFTER UPDATE OF online_min_minutes ON agenda_sessions
    FOR EACH ROW WHEN (NEW.online_min_minutes IS DISTINCT FROM OLD.online_min_minutes)
    EXECUTE FUNCTION session_minimum_changed();

-- Seats taken by live registrations, per session and seat: read on every
-- view of the registration page and by the report, where counting them
-- meant joining every seat to its participant for the status. Rows are
-- changed in (session, seat) order, so concurrent registrations lock them
-- alike and can't deadlock.
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

-- Registrations and imports insert many seats per statement: one change
-- per (session, seat).
CREATE FUNCTION seats_taken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_seats (session_id, seat, taken)
    SELECT a.session_id, a.seat, COUNT(*)
    FROM added a JOIN participants p ON p.id = a.participant_id
    WHERE p.status = 'registered'
    GROUP BY a.session_id, a.seat ORDER BY a.session_id, a.seat
    ON CONFLICT (session_id, seat) DO UPDATE SET taken = session_seats.taken + excluded.taken;
    RETURN NULL;
END $$;
CREATE TRIGGER seats_taken AFTER INSERT ON participant_sessions
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION seats_taken();

CREATE FUNCTION seats_given_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE session_seats s SET taken = s.taken - g.n
    FROM (SELECT r.session_id, r.seat, COUNT(*) AS n
          FROM removed r JOIN participants p ON p.id = r.participant_id
          WHERE p.status = 'registered'
          GROUP BY r.session_id, r.seat ORDER BY r.session_id, r.seat) g
    WHERE s.session_id = g.session_id AND s.seat = g.seat;
    RETURN NULL;
END $$;
CREATE TRIGGER seats_given_back AFTER DELETE ON participant_sessions
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION seats_given_back();

CREATE FUNCTION seat_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT status FROM participants WHERE id = NEW.participant_id) = 'registered' THEN
        UPDATE session_seats SET taken = taken - 1
        WHERE session_id = OLD.session_id AND seat = OLD.seat;
        INSERT INTO session_seats (session_id, seat, taken) VALUES (NEW.session_id, NEW.seat, 1)
        ON CONFLICT (session_id, seat) DO UPDATE SET taken = session_seats.taken + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER seat_changed AFTER UPDATE OF seat ON participant_sessions
    FOR EACH ROW WHEN (NEW.seat IS DISTINCT FROM OLD.seat)
    EXECUTE FUNCTION seat_changed();

-- A cancellation gives back every seat the person held.
CREATE FUNCTION seats_on_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_seats (session_id, seat, taken)
    SELECT session_id, seat, CASE WHEN NEW.status = 'registered' THEN 1 ELSE -1 END
    FROM participant_sessions WHERE participant_id = NEW.id
    ORDER BY session_id, seat
    ON CONFLICT (session_id, seat) DO UPDATE SET taken = session_seats.taken + excluded.taken;
    RETURN NULL;
END $$;
CREATE TRIGGER seats_on_status AFTER UPDATE OF status ON participants
    FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION seats_on_status();

-- The report's arrival timelines group by quarter hour: a stored column
-- lets PostgreSQL read them from an index alone (it won't for an index on
-- the expression).
ALTER TABLE attendance
    ADD COLUMN recorded_quarter BIGINT GENERATED ALWAYS AS (recorded_at / 900000) STORED;
CREATE INDEX attendance_quarter ON attendance (event_id, session_id, recorded_quarter);
