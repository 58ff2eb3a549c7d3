DROP INDEX attendance_event_time;
