DROP TRIGGER event_changes_removed ON events;
DROP FUNCTION event_changes_removed();
-- Without keys, a fold racing an event's deletion may have left rows of
-- the deleted event behind: the keys put back would refuse them.
DELETE FROM participant_grid_changes c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = c.event_id);
DELETE FROM session_count_changes c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = c.event_id);
DELETE FROM arrival_changes c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = c.event_id);
ALTER TABLE arrival_changes ADD CONSTRAINT arrival_changes_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE session_count_changes ADD CONSTRAINT session_count_changes_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE participant_grid_changes ADD CONSTRAINT participant_grid_changes_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;

CREATE INDEX attendance_tally ON attendance (event_id, session_id, mode, counted);

ALTER TABLE attendance DROP CONSTRAINT attendance_participant_fkey;
ALTER TABLE attendance ADD CONSTRAINT attendance_participant_id_fkey
    FOREIGN KEY (participant_id) REFERENCES participants(id) ON DELETE CASCADE;
ALTER TABLE attendance ADD CONSTRAINT attendance_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES events(id) ON DELETE CASCADE;
ALTER TABLE participants DROP CONSTRAINT participants_id_event;
