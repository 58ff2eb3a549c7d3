-- The participant grid (people per event, status, country, mode, category
-- and what they attended) as changes to its cells, summed when read,
-- instead of grouping every person's row. Grouping read each person's
-- `attended` flag, the fifteenth column of a wide row, and at 10,000
-- people that took 10-15 ms, about eight times a second while
-- dashboards were open (BENCHMARKS.md, history 48). A cell's count is not kept in one row
-- updated in place: the two door writers, registrations and imports would
-- queue on the same rows and could deadlock. Each statement that changes
-- people inserts rows of its own, and `db::stats` folds an event's rows
-- into one per cell now and then (one folder at a time, by an advisory
-- lock). SQLite keeps counters instead (its migration `participant_grid`):
-- it has one writer.

CREATE TABLE participant_grid_changes (
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    country TEXT NOT NULL,
    mode TEXT NOT NULL,
    category TEXT NOT NULL,
    -- as `participants.attended`: 1 in person, 0 online only, -1 not yet
    attended INTEGER NOT NULL,
    people BIGINT NOT NULL,
    -- false for a statement's change, true for a sum folded from them
    folded BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX participant_grid_changes_event ON participant_grid_changes (event_id);

INSERT INTO participant_grid_changes (event_id, status, country, mode, category, attended, people, folded)
SELECT event_id, status, country, mode, category, attended, COUNT(*), TRUE
FROM participants
GROUP BY event_id, status, country, mode, category, attended;

-- People registered or imported add +n to their cells, people deleted
-- -n; those deleted with their event leave nothing (the event's changes
-- are deleted with it). Both triggers name their rows `people`.
CREATE FUNCTION grid_people_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO participant_grid_changes (event_id, status, country, mode, category, attended, people)
    SELECT p.event_id, p.status, p.country, p.mode, p.category, p.attended,
           CASE TG_OP WHEN 'INSERT' THEN COUNT(*) ELSE -COUNT(*) END
    FROM people p WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = p.event_id)
    GROUP BY p.event_id, p.status, p.country, p.mode, p.category, p.attended;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_people_added AFTER INSERT ON participants
    REFERENCING NEW TABLE AS people
    FOR EACH STATEMENT EXECUTE FUNCTION grid_people_counted();
CREATE TRIGGER grid_people_removed AFTER DELETE ON participants
    REFERENCING OLD TABLE AS people
    FOR EACH STATEMENT EXECUTE FUNCTION grid_people_counted();

-- A door batch's first check-ins (their `attended` flags, set by the
-- trigger `attendance_inserted`), a cancellation, an edit: each person
-- leaves their old cell for the new one. Transition tables can't go with
-- a column list, so every update of people comes here; those that move
-- no one insert nothing.
CREATE FUNCTION grid_people_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO participant_grid_changes (event_id, status, country, mode, category, attended, people)
    SELECT c.event_id, c.status, c.country, c.mode, c.category, c.attended, SUM(c.people)
    FROM before_update o JOIN after_update n ON n.id = o.id,
         LATERAL (VALUES
             (o.event_id, o.status, o.country, o.mode, o.category, o.attended, -1),
             (n.event_id, n.status, n.country, n.mode, n.category, n.attended, 1)
         ) AS c (event_id, status, country, mode, category, attended, people)
    WHERE (o.event_id, o.status, o.country, o.mode, o.category, o.attended)
        IS DISTINCT FROM (n.event_id, n.status, n.country, n.mode, n.category, n.attended)
    GROUP BY c.event_id, c.status, c.country, c.mode, c.category, c.attended
    HAVING SUM(c.people) <> 0;
    RETURN NULL;
END $$;
CREATE TRIGGER grid_people_moved AFTER UPDATE ON participants
    REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
    FOR EACH STATEMENT EXECUTE FUNCTION grid_people_moved();
