-- Two of the live numbers as changes summed when read, as the participant
-- grid's (migration `participant_grid`): records per event, session, mode
-- and counted flag (the dashboards' session counts), and records per event
-- and minute (their arrivals over the last hour). Counting the records
-- themselves, even from the covering indexes `attendance_tally` and
-- `attendance_event_time`, were the two largest statements of each live
-- computation: 4.3 and 2.2 ms at 12,000 records, about twelve times a
-- second with 10,000 dashboards open, more than any one kind of door
-- statement (BENCHMARKS.md, history 52). `db::stats::fold_changes` folds
-- an event's rows with the grid's.

CREATE TABLE session_count_changes (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    -- no reference: a deleted session's records leave -n here, and the
    -- counts are only read for the event's sessions
    session_id INTEGER NOT NULL,
    mode TEXT NOT NULL,
    counted BOOLEAN NOT NULL,
    records BIGINT NOT NULL,
    -- false for a statement's change, true for a sum folded from them
    folded BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX session_count_changes_event ON session_count_changes (event_id);

INSERT INTO session_count_changes (event_id, session_id, mode, counted, records, folded)
SELECT event_id, session_id, mode, counted, COUNT(*), TRUE
FROM attendance WHERE session_id IS NOT NULL
GROUP BY event_id, session_id, mode, counted;

-- Every record, event entries too, by the minute it was recorded in
-- (`recorded_at / 60000`). A fold rewrites only the minutes that have new
-- changes: an event's folded minutes add up over its days.
CREATE TABLE arrival_changes (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    minute BIGINT NOT NULL,
    records BIGINT NOT NULL,
    folded BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX arrival_changes_minute ON arrival_changes (event_id, minute);

INSERT INTO arrival_changes (event_id, minute, records, folded)
SELECT event_id, recorded_at / 60000, COUNT(*), TRUE
FROM attendance
GROUP BY event_id, recorded_at / 60000;

-- A door batch's records (hundreds in one statement) add a row per count
-- and per minute; undone records, and those deleted with their person or
-- session, take theirs back. Those deleted with their event leave nothing
-- (the event's changes go with it). Both triggers name their rows
-- `records`.
CREATE FUNCTION attendance_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_changes (event_id, session_id, mode, counted, records)
    SELECT r.event_id, r.session_id, r.mode, r.counted,
           CASE TG_OP WHEN 'INSERT' THEN COUNT(*) ELSE -COUNT(*) END
    FROM records r
    WHERE r.session_id IS NOT NULL AND EXISTS (SELECT 1 FROM events e WHERE e.id = r.event_id)
    GROUP BY r.event_id, r.session_id, r.mode, r.counted;
    INSERT INTO arrival_changes (event_id, minute, records)
    SELECT r.event_id, r.recorded_at / 60000,
           CASE TG_OP WHEN 'INSERT' THEN COUNT(*) ELSE -COUNT(*) END
    FROM records r
    WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = r.event_id)
    GROUP BY r.event_id, r.recorded_at / 60000;
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_counted_in AFTER INSERT ON attendance
    REFERENCING NEW TABLE AS records
    FOR EACH STATEMENT EXECUTE FUNCTION attendance_counted();
CREATE TRIGGER attendance_counted_out AFTER DELETE ON attendance
    REFERENCING OLD TABLE AS records
    FOR EACH STATEMENT EXECUTE FUNCTION attendance_counted();

-- A record counted once enough minutes are watched (or no longer, when
-- the minimum is raised), or turned from online to in person, moves from
-- its old count to its new one (and a record whose time is edited, from
-- its old minute). A row trigger, with its condition: every presence
-- flush runs an UPDATE of attendance that mostly changes nothing.
CREATE FUNCTION attendance_recount() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.event_id, OLD.session_id, OLD.mode, OLD.counted)
        IS DISTINCT FROM (NEW.event_id, NEW.session_id, NEW.mode, NEW.counted) THEN
        INSERT INTO session_count_changes (event_id, session_id, mode, counted, records)
        SELECT OLD.event_id, OLD.session_id, OLD.mode, OLD.counted, -1
        WHERE OLD.session_id IS NOT NULL
        UNION ALL
        SELECT NEW.event_id, NEW.session_id, NEW.mode, NEW.counted, 1
        WHERE NEW.session_id IS NOT NULL;
    END IF;
    IF (OLD.event_id, OLD.recorded_at / 60000) IS DISTINCT FROM (NEW.event_id, NEW.recorded_at / 60000) THEN
        INSERT INTO arrival_changes (event_id, minute, records)
        VALUES (OLD.event_id, OLD.recorded_at / 60000, -1), (NEW.event_id, NEW.recorded_at / 60000, 1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_recount
    AFTER UPDATE OF event_id, session_id, mode, counted, recorded_at ON attendance
    FOR EACH ROW
    WHEN ((OLD.event_id, OLD.session_id, OLD.mode, OLD.counted, OLD.recorded_at / 60000)
          IS DISTINCT FROM (NEW.event_id, NEW.session_id, NEW.mode, NEW.counted, NEW.recorded_at / 60000))
    EXECUTE FUNCTION attendance_recount();
