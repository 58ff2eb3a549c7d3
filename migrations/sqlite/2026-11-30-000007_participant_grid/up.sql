-- SQLite keeps the report's participant grid as counters, one row per
-- event, status, country, mode and category, instead of a flag on each
-- person. The flag made every first scan at a door rewrite the person's
-- row and move their entry in an index, two pages at a random place in
-- a table of every registrant, and on SQLite's one writer the pages a
-- check-in dirties are what bound the door rush (BENCHMARKS.md, history
-- 21). The grid's rows are few and shared by a whole batch of scans.
-- PostgreSQL keeps the flag: its writers run side by side, and a shared
-- counter row would make each wait for the other's commit.
--
-- A person counts as attended with any counted record, in person with a
-- counted in-person one (the `counted` flag of migration `tallies`).
-- Every trigger below applies the change one row makes, judged against
-- the person's other records, so the order triggers fire in can't matter.

CREATE TABLE participant_grid (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    country TEXT NOT NULL,
    mode TEXT NOT NULL,
    category TEXT NOT NULL,
    people BIGINT NOT NULL DEFAULT 0,
    -- with at least one counted record
    attended BIGINT NOT NULL DEFAULT 0,
    -- with at least one counted in-person record
    in_person BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, status, country, mode, category)
) WITHOUT ROWID;

INSERT INTO participant_grid
SELECT event_id, status, country, mode, category,
       COUNT(*), SUM(attended >= 0), SUM(attended = 1)
FROM participants
GROUP BY event_id, status, country, mode, category;

DROP TRIGGER attendance_in_person;
DROP TRIGGER attendance_online;
DROP TRIGGER attendance_mode_changed;
DROP TRIGGER attendance_counted_changed;
DROP TRIGGER attendance_removed;
DROP INDEX participants_tally;
ALTER TABLE participants DROP COLUMN attended;

-- A registration joins its cell.
CREATE TRIGGER grid_person_added AFTER INSERT ON participants
BEGIN
    INSERT INTO participant_grid (event_id, status, country, mode, category, people)
    VALUES (NEW.event_id, NEW.status, NEW.country, NEW.mode, NEW.category, 1)
    ON CONFLICT (event_id, status, country, mode, category)
    DO UPDATE SET people = people + 1;
END;

-- Before the row goes: its records are deleted with it (cascade), after
-- the row itself, when the person's cell can no longer be found.
CREATE TRIGGER grid_person_removed BEFORE DELETE ON participants
BEGIN
    UPDATE participant_grid SET
        people = people - 1,
        attended = attended - EXISTS (
            SELECT 1 FROM attendance a WHERE a.participant_id = OLD.id AND a.counted),
        in_person = in_person - EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = OLD.id AND a.counted AND a.mode = 'offline')
    WHERE (event_id, status, country, mode, category)
        = (OLD.event_id, OLD.status, OLD.country, OLD.mode, OLD.category);
END;

-- A cancellation or an edit moves the person, with what they attended.
CREATE TRIGGER grid_person_moved
AFTER UPDATE OF event_id, status, country, mode, category ON participants
WHEN NEW.event_id <> OLD.event_id OR NEW.status <> OLD.status
  OR NEW.country <> OLD.country OR NEW.mode <> OLD.mode OR NEW.category <> OLD.category
BEGIN
    UPDATE participant_grid SET
        people = people - 1,
        attended = attended - EXISTS (
            SELECT 1 FROM attendance a WHERE a.participant_id = NEW.id AND a.counted),
        in_person = in_person - EXISTS (
            SELECT 1 FROM attendance a
            WHERE a.participant_id = NEW.id AND a.counted AND a.mode = 'offline')
    WHERE (event_id, status, country, mode, category)
        = (OLD.event_id, OLD.status, OLD.country, OLD.mode, OLD.category);
    INSERT INTO participant_grid (event_id, status, country, mode, category,
                                  people, attended, in_person)
    VALUES (NEW.event_id, NEW.status, NEW.country, NEW.mode, NEW.category, 1,
        EXISTS (SELECT 1 FROM attendance a WHERE a.participant_id = NEW.id AND a.counted),
        EXISTS (SELECT 1 FROM attendance a
                WHERE a.participant_id = NEW.id AND a.counted AND a.mode = 'offline'))
    ON CONFLICT (event_id, status, country, mode, category) DO UPDATE SET
        people = people + 1,
        attended = attended + excluded.attended,
        in_person = in_person + excluded.in_person;
END;

-- A counted record: the person's first makes them attended, their first
-- in person makes them attended in person. The commonest write (every
-- first scan at a door): reads the person's row and their other records,
-- writes only the grid.
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

-- Undo at the door, a deleted session: the reverse. When the person
-- is being deleted too their row is gone and this finds no cell
-- (grid_person_removed took all of them out).
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

-- A record starting or ceasing to count (minutes watched, a session's
-- minimum changed, a mode change below).
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

-- An online record upgraded to in person (or back): the in-person column
-- moves while the record counts as it did; then the record's own flag is
-- worked out again for its new mode (grid_record_counted follows it).
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

-- An online record counts once the session's minimum has been watched
-- (records are inserted counted; this takes it back when not yet).
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
