-- Less work for PostgreSQL in each door batch's insert of attendance
-- records. Instructions counted with callgrind on a 64-record insert into
-- the door rush's database (400,000 people): 20.7M before, 16.9M after
-- (BENCHMARKS.md, history 55). SQLite's checks cost little and are left
-- as they are.

-- A record's person and event as one key (the person's own event), not
-- two keys checked apart: one lookup of the person a record instead of two
-- (-2.0M). A record is still deleted with its person, and so with its
-- event. Any record filed under another event than its person's would
-- fail the key: it follows the person.
UPDATE attendance a SET event_id = p.event_id
FROM participants p
WHERE p.id = a.participant_id AND a.event_id <> p.event_id;
ALTER TABLE participants ADD CONSTRAINT participants_id_event UNIQUE (id, event_id);
ALTER TABLE attendance DROP CONSTRAINT attendance_event_id_fkey;
ALTER TABLE attendance DROP CONSTRAINT attendance_participant_id_fkey;
ALTER TABLE attendance ADD CONSTRAINT attendance_participant_fkey
    FOREIGN KEY (participant_id, event_id) REFERENCES participants (id, event_id)
    ON DELETE CASCADE;

-- Records per session, mode and counted flag are read from
-- `session_count_changes` since the migration `live_counts` (the door's
-- capacity check too, since this one): the index that counted them is
-- one index entry a record no read needs (-1.0M).
DROP INDEX attendance_tally;

-- The change tables' rows come only from rows of the event's own people
-- and records, which already name an existing event, and each statement
-- that writes them checked the event's key once per row (a door batch
-- writes a dozen grid cells: -0.9M). Their rows now go with their event
-- through a trigger instead of a key.
ALTER TABLE participant_grid_changes DROP CONSTRAINT participant_grid_changes_event_id_fkey;
ALTER TABLE session_count_changes DROP CONSTRAINT session_count_changes_event_id_fkey;
ALTER TABLE arrival_changes DROP CONSTRAINT arrival_changes_event_id_fkey;

CREATE FUNCTION event_changes_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM participant_grid_changes WHERE event_id = OLD.id;
    DELETE FROM session_count_changes WHERE event_id = OLD.id;
    DELETE FROM arrival_changes WHERE event_id = OLD.id;
    RETURN OLD;
END $$;
-- Before the event's row goes: the people and records deleted with it
-- after that find no event and add no changes (the triggers'
-- `EXISTS (SELECT 1 FROM events ...)`).
CREATE TRIGGER event_changes_removed BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION event_changes_removed();
