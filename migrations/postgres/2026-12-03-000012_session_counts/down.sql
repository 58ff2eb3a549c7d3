DROP TRIGGER session_record_moved ON attendance;
DROP FUNCTION session_record_moved();
DROP TRIGGER session_records_removed ON attendance;
DROP TRIGGER session_records_added ON attendance;
DROP FUNCTION session_records_counted();
DROP TABLE session_count_changes;
