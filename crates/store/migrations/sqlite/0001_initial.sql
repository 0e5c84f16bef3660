-- Event id -> the Zendesk effect it produced. One row per event, first write wins.
CREATE TABLE events (
    event_id    TEXT    PRIMARY KEY NOT NULL,
    ticket_id   INTEGER NOT NULL,
    effect      TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL
);

-- An effect started (written before the Zendesk call) and not yet recorded.
CREATE TABLE pending_effects (
    event_id   TEXT    PRIMARY KEY NOT NULL,
    ticket_id  INTEGER,
    effect     TEXT    NOT NULL,
    started_at TEXT    NOT NULL
);

-- (channel, thread id) -> the ticket that holds the conversation now.
CREATE TABLE conversations (
    channel    TEXT    NOT NULL,
    thread_id  TEXT    NOT NULL,
    ticket_id  INTEGER NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (channel, thread_id)
);

-- Contact key -> Zendesk user id (a cache of create_or_update results).
CREATE TABLE contacts (
    contact_key TEXT    PRIMARY KEY NOT NULL,
    user_id     INTEGER NOT NULL,
    updated_at  TEXT    NOT NULL
);
