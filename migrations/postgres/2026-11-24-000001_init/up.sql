-- Times are i64 milliseconds since the Unix epoch (UTC) on both backends, so
-- comparisons and per-minute buckets are the same integer arithmetic in SQL.

CREATE TABLE app_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE events (
    id SERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    venue TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE agenda_sessions (
    id SERIAL PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('in_person', 'online', 'hybrid')),
    capacity_offline INTEGER CHECK (capacity_offline >= 0),
    capacity_online INTEGER CHECK (capacity_online >= 0),
    stream_url TEXT,
    members_only BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (event_id, slug),
    CHECK (ends_at > starts_at)
);

CREATE TABLE participants (
    id SERIAL PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    country TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('offline', 'online')),
    category TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('registered', 'cancelled')),
    checkin_code TEXT NOT NULL UNIQUE,
    page_token TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT
);
-- One live registration per email and event; a cancelled one may register again.
CREATE UNIQUE INDEX participants_one_live_email
    ON participants (event_id, email) WHERE status = 'registered';
CREATE INDEX participants_event_country ON participants (event_id, country);

CREATE TABLE participant_sessions (
    participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES agenda_sessions(id) ON DELETE CASCADE,
    -- The seat taken: in the room or on the stream (see SessionFormat::seat_for).
    seat TEXT NOT NULL CHECK (seat IN ('offline', 'online')),
    PRIMARY KEY (participant_id, session_id)
);
CREATE INDEX participant_sessions_session_seat ON participant_sessions (session_id, seat);

CREATE TABLE attendance (
    id SERIAL PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    -- NULL: entry to the event itself rather than to one session.
    session_id INTEGER REFERENCES agenda_sessions(id) ON DELETE CASCADE,
    mode TEXT NOT NULL CHECK (mode IN ('offline', 'online')),
    source TEXT NOT NULL CHECK (source IN ('door_scan', 'join_link', 'manual', 'import')),
    door TEXT,
    recorded_by TEXT,
    recorded_at BIGINT NOT NULL
);
-- One person counts at most once per session (and once for event entry).
CREATE UNIQUE INDEX attendance_once_per_session
    ON attendance (participant_id, COALESCE(session_id, 0));
CREATE INDEX attendance_event_session ON attendance (event_id, session_id);

CREATE TABLE staff_users (
    id SERIAL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'organiser', 'door')),
    created_at BIGINT NOT NULL
);
