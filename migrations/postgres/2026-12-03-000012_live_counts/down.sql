DROP TRIGGER attendance_recount ON attendance;
DROP FUNCTION attendance_recount();
DROP TRIGGER attendance_counted_out ON attendance;
DROP TRIGGER attendance_counted_in ON attendance;
DROP FUNCTION attendance_counted();
DROP TABLE arrival_changes;
DROP TABLE session_count_changes;
