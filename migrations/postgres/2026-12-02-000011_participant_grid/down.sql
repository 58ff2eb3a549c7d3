DROP TRIGGER grid_people_moved ON participants;
DROP FUNCTION grid_people_moved();
DROP TRIGGER grid_people_removed ON participants;
DROP TRIGGER grid_people_added ON participants;
DROP FUNCTION grid_people_counted();
DROP TABLE participant_grid_changes;
