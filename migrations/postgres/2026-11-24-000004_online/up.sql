-- Online attendance: when join links work, the minimum watched to count as
-- attended, and who is watching (and for how long).

-- Join links open this many minutes before a session and close this many after it ends.
ALTER TABLE agenda_sessions ADD COLUMN join_opens_minutes INTEGER NOT NULL DEFAULT 15;
ALTER TABLE agenda_sessions ADD COLUMN join_closes_minutes INTEGER NOT NULL DEFAULT 0;
-- An online participant counts as attended after this many minutes watched (0: joining counts).
ALTER TABLE agenda_sessions ADD COLUMN online_min_minutes INTEGER NOT NULL DEFAULT 0;

-- One row per participant and session they watched: seconds with the watch
-- page open (however many tabs), and when an instance last saw them there.
CREATE TABLE watching (
    participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES agenda_sessions(id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    seconds_watched BIGINT NOT NULL DEFAULT 0,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (participant_id, session_id)
);
CREATE INDEX watching_event_seen ON watching (event_id, last_seen);
