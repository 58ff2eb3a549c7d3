-- Records per event, session, mode and counted flag (the dashboards'
-- session counts) as changes summed when read, as the participant grid's
-- (migration `participant_grid`). Counting the records themselves, even
-- from the covering index `attendance_tally`, was the largest statement of
-- each live computation: 4.3 ms at 12,000 records, about twelve times a
-- second with 10,000 dashboards open, more than any one kind of door
-- statement (BENCHMARKS.md, history 52). `db::stats::fold_changes` folds an
-- event's rows into one per count with the grid's.

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

-- A door batch's records (hundreds in one statement) add one row per
-- count; undone records, and those deleted with their person or session,
-- take theirs back. Those deleted with their event leave nothing (the
-- event's changes go with it). Both triggers name their rows `records`.
CREATE FUNCTION session_records_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_changes (event_id, session_id, mode, counted, records)
    SELECT r.event_id, r.session_id, r.mode, r.counted,
           CASE TG_OP WHEN 'INSERT' THEN COUNT(*) ELSE -COUNT(*) END
    FROM records r
    WHERE r.session_id IS NOT NULL AND EXISTS (SELECT 1 FROM events e WHERE e.id = r.event_id)
    GROUP BY r.event_id, r.session_id, r.mode, r.counted;
    RETURN NULL;
END $$;
CREATE TRIGGER session_records_added AFTER INSERT ON attendance
    REFERENCING NEW TABLE AS records
    FOR EACH STATEMENT EXECUTE FUNCTION session_records_counted();
CREATE TRIGGER session_records_removed AFTER DELETE ON attendance
    REFERENCING OLD TABLE AS records
    FOR EACH STATEMENT EXECUTE FUNCTION session_records_counted();

-- A record counted once enough minutes are watched (or no longer, when
-- the minimum is raised), or turned from online to in person, moves from
-- its old count to its new one. A row trigger, with its condition: every
-- presence flush runs an UPDATE of attendance that mostly changes nothing.
CREATE FUNCTION session_record_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO session_count_changes (event_id, session_id, mode, counted, records)
    SELECT OLD.event_id, OLD.session_id, OLD.mode, OLD.counted, -1
    WHERE OLD.session_id IS NOT NULL
    UNION ALL
    SELECT NEW.event_id, NEW.session_id, NEW.mode, NEW.counted, 1
    WHERE NEW.session_id IS NOT NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER session_record_moved AFTER UPDATE OF event_id, session_id, mode, counted ON attendance
    FOR EACH ROW
    WHEN ((OLD.event_id, OLD.session_id, OLD.mode, OLD.counted)
          IS DISTINCT FROM (NEW.event_id, NEW.session_id, NEW.mode, NEW.counted))
    EXECUTE FUNCTION session_record_moved();
