-- Each participant's name as the search matches it: lower case, accents
-- and other scripts spelt in ASCII ("Wiśniewska" -> "wisniewska"), so
-- "wisniewska" typed on any keyboard finds her. Written by the app
-- (`domain::fold_for_search`); rows from before this column are folded
-- at the next start-up, found by the partial index.
ALTER TABLE participants ADD COLUMN name_folded TEXT;
CREATE INDEX participants_unfolded ON participants (id) WHERE name_folded IS NULL;
