-- Sign-in sessions ended by logout: a refresh token of one is refused. Kept until the last
-- refresh token the session could have issued expires.
CREATE TABLE revoked_sessions (
    sid TEXT NOT NULL PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_sessions_expires ON revoked_sessions (expires_at);
