DROP TABLE staff_users;
DROP TABLE attendance;
DROP TABLE participant_sessions;
DROP TABLE participants;
DROP TABLE agenda_sessions;
DROP TABLE events;
DROP TABLE app_secrets;
