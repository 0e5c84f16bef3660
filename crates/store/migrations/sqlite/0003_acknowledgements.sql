-- Acknowledgements (issue 10): the decision per outcome id (first write
-- wins), so a redelivered outcome is never acknowledged twice, and the last
-- sending time per contact for the per-sender window.
CREATE TABLE acknowledgements (
    outcome_id  TEXT    PRIMARY KEY,
    channel     TEXT    NOT NULL,
    contact_key TEXT    NOT NULL,
    ticket_id   INTEGER,
    status      TEXT    NOT NULL,
    reason      TEXT,
    -- RFC 3339 UTC with microseconds and `Z`, so text order is time order.
    at          TEXT    NOT NULL
);

CREATE INDEX acknowledgements_sent_by_contact
    ON acknowledgements (contact_key, at) WHERE status = 'sent';
