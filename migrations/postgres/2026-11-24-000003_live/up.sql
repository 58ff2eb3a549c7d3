-- Live dashboards read arrivals per minute and the latest check-ins by time.
CREATE INDEX attendance_event_time ON attendance (event_id, recorded_at);
