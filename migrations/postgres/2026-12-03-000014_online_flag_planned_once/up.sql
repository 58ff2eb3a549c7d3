-- An online record's `counted` flag, worked out by the trigger's own
-- query instead of a call of `rollcall_online_counts`. PostgreSQL can't
-- inline that SQL function (its body has subqueries), so each transaction
-- that inserted online records parsed and planned its body again: in a
-- keynote burst, where each join is a transaction of its own, that was a
-- tenth of PostgreSQL's CPU (BENCHMARKS.md, history 57). PL/pgSQL keeps
-- its own queries' plans for the connection. The rule is the function's:
-- in person counts; online once the session's minimum minutes have been
-- watched (none: joining counts); no session, nothing counts.
CREATE OR REPLACE FUNCTION attendance_set_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.counted := NEW.mode = 'offline' OR COALESCE((
        SELECT s.online_min_minutes = 0
            OR COALESCE((SELECT w.seconds_watched FROM watching w
                         WHERE w.participant_id = NEW.participant_id
                           AND w.session_id = NEW.session_id), 0)
               >= s.online_min_minutes * 60
        FROM agenda_sessions s WHERE s.id = NEW.session_id), FALSE);
    RETURN NEW;
END $$;
