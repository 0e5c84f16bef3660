-- Tickets Zendesk created in its own channels (issue 16 point 6): one row per
-- ticket the webhook told of (first record wins, so Zendesk's retries and
-- redeliveries do nothing more); `state` moves received -> published (on the
-- bus) -> applied (the router's done marker, checked before its update).
CREATE TABLE native_tickets (
    ticket_id       BIGINT      PRIMARY KEY,
    via_channel     TEXT        NOT NULL,
    requester_id    BIGINT      NOT NULL,
    requester_email TEXT,
    subject         TEXT,
    text            TEXT        NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL,
    state           TEXT        NOT NULL
);
