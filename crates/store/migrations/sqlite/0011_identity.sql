-- One person across channels (issue 14 point 2, decisions 52-53).
-- A contact key linked to the Zendesk user of a verified detail (a Telegram
-- phone, a Slack profile e-mail) that matched another contact's user; or a
-- link that was refused (the identity belongs to another Zendesk user), so
-- later messages do not try again. The first decision per key wins.
CREATE TABLE contact_links (
    contact_key TEXT        PRIMARY KEY,
    detail_key  TEXT        NOT NULL,
    user_id     INTEGER     NOT NULL,
    outcome     TEXT        NOT NULL,
    reason      TEXT,
    created_at  TEXT        NOT NULL
);

-- Recent messages per requester, for the two-channel near-duplicate window:
-- `duplicate_of` names the original (NULL for an original); the original's
-- ticket is in `events`. Claimed in one write transaction
-- (the insert comes first, taking SQLite's write lock), so two claims of one
-- requester cannot both take a message as original. Times are RFC 3339 UTC
-- with microseconds, so they compare as text.
CREATE TABLE cross_channel_messages (
    event_id     TEXT        PRIMARY KEY,
    user_id      INTEGER     NOT NULL,
    channel      TEXT        NOT NULL,
    text_hash    TEXT        NOT NULL,
    tokens       TEXT        NOT NULL,
    received_at  TEXT        NOT NULL,
    duplicate_of TEXT
);
CREATE INDEX cross_channel_by_user ON cross_channel_messages (user_id, received_at);
