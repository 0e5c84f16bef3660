-- One person across channels (issue 14 point 2, decisions 52-53).
-- A contact key linked to the Zendesk user of a verified detail (a Telegram
-- phone, a Slack profile e-mail) that matched another contact's user; or a
-- link that was refused (the identity belongs to another Zendesk user), so
-- later messages do not try again. The first decision per key wins.
CREATE TABLE contact_links (
    contact_key TEXT        PRIMARY KEY,
    detail_key  TEXT        NOT NULL,
    user_id     BIGINT      NOT NULL,
    outcome     TEXT        NOT NULL,
    reason      TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Recent messages per requester, for the two-channel near-duplicate window:
-- `duplicate_of` names the original (NULL for an original); the original's
-- ticket is in `events`. Claimed under a per-requester
-- advisory lock, so two routers cannot both take a message as original.
CREATE TABLE cross_channel_messages (
    event_id     UUID        PRIMARY KEY,
    user_id      BIGINT      NOT NULL,
    channel      TEXT        NOT NULL,
    text_hash    TEXT        NOT NULL,
    tokens       TEXT        NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    duplicate_of UUID
);
CREATE INDEX cross_channel_by_user ON cross_channel_messages (user_id, received_at);
