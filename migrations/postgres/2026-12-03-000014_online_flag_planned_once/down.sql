CREATE OR REPLACE FUNCTION attendance_set_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.counted := NEW.mode = 'offline'
        OR rollcall_online_counts(NEW.participant_id, NEW.session_id);
    RETURN NEW;
END $$;
