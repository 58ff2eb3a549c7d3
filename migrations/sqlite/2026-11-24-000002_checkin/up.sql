-- Door check-in: device tokens, the scan log (audit + idempotency), and the
-- window around each session in which doors accept scans.

-- Doors open this many minutes before a session starts and stay open this
-- many minutes after it ends.
ALTER TABLE events ADD COLUMN checkin_grace_minutes INTEGER NOT NULL DEFAULT 30;

CREATE TABLE device_tokens (
    id INTEGER PRIMARY KEY NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('door', 'dashboard', 'organiser')),
    -- SHA-256 of the token, hex: the token itself is shown once and never stored.
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX device_tokens_event ON device_tokens (event_id);

-- Sessions a token may scan for; no rows means every session of its event.
CREATE TABLE device_token_sessions (
    token_id INTEGER NOT NULL REFERENCES device_tokens(id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES agenda_sessions(id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, session_id)
);

-- Every scan and undo, whatever its outcome. The stored answer makes a retry
-- with the same scan_id return the same answer and record nothing new.
CREATE TABLE checkin_log (
    id INTEGER PRIMARY KEY NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    scan_id TEXT,
    session_id INTEGER REFERENCES agenda_sessions(id) ON DELETE SET NULL,
    participant_id INTEGER REFERENCES participants(id) ON DELETE SET NULL,
    door TEXT,
    actor TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('scan', 'manual', 'undo')),
    outcome TEXT NOT NULL,
    reason TEXT,
    answer TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE UNIQUE INDEX checkin_log_scan_id ON checkin_log (event_id, scan_id);
CREATE INDEX checkin_log_event_at ON checkin_log (event_id, at);

CREATE INDEX participants_event_name ON participants (event_id, full_name);

-- A staff account may be limited to one event (door staff hired for it).
ALTER TABLE staff_users ADD COLUMN event_id INTEGER REFERENCES events(id) ON DELETE CASCADE;
