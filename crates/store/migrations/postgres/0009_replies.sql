-- Replies (issue 16 rest): the customer's last message per conversation
-- (who wrote it, the message an agent reply answers, and the start of WhatsApp's 24-hour
-- window), and the subject and files of each agent reply.
CREATE TABLE conversation_inbound (
    channel     TEXT        NOT NULL,
    thread_id   TEXT        NOT NULL,
    message_id  TEXT        NOT NULL,
    contact_key TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (channel, thread_id)
);

ALTER TABLE agent_replies ADD COLUMN subject TEXT;
-- One file per line: `<url> <file name>` (URLs hold no spaces).
ALTER TABLE agent_replies ADD COLUMN attachments TEXT NOT NULL DEFAULT '';
