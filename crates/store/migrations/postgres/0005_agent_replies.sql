-- Agent replies (issue 16): one row per Zendesk comment carried back to the
-- customer (first claim wins), so a webhook Zendesk retries, or one seen
-- again after a crash, is delivered once; `pending` rows are resumed.
CREATE TABLE agent_replies (
    comment_id BIGINT PRIMARY KEY,
    ticket_id  BIGINT NOT NULL,
    channel    TEXT   NOT NULL,
    thread_id  TEXT   NOT NULL,
    text       TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    reason     TEXT
);

-- Ticket -> the conversations that point at it.
CREATE INDEX conversations_by_ticket ON conversations (ticket_id, updated_at);
