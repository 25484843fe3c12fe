-- One cursor into the catalog's change feed per follower (catalog::follow::FeedFollower): the
-- id of the last event the follower applied. Offerings' cursor moves here from offerings_state.
CREATE TABLE feed_cursors (
    name TEXT NOT NULL PRIMARY KEY,
    event_id BIGINT NOT NULL
);
INSERT INTO feed_cursors (name, event_id) SELECT 'offerings', cursor FROM offerings_state WHERE id = 1;
