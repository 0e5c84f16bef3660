-- Acknowledgements (issue 10): the decision per outcome id (first write
-- wins), so a redelivered outcome is never acknowledged twice, and the last
-- sending time per contact for the per-sender window.
CREATE TABLE acknowledgements (
    outcome_id  UUID        PRIMARY KEY,
    channel     TEXT        NOT NULL,
    contact_key TEXT        NOT NULL,
    ticket_id   BIGINT,
    status      TEXT        NOT NULL,
    reason      TEXT,
    at          TIMESTAMPTZ NOT NULL
);

CREATE INDEX acknowledgements_sent_by_contact
    ON acknowledgements (contact_key, at) WHERE status = 'sent';
