-- Where a pull channel stopped reading its source, by scope (one row per
-- mailbox, bot, ...): an opaque value the channel writes and reads back
-- (mail: "<uidvalidity>:<last processed uid>", Telegram: the next update id).
CREATE TABLE cursors (
    scope      TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
