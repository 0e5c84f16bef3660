-- Conversations (lanes) the router has parked: a per-ticket limit hold, a
-- ticket lock or repeated retryable failures of the event at their head.
-- One row per (consumer group, lane); removed when the event is finished.
CREATE TABLE parked_lanes (
    consumer_group   TEXT        NOT NULL,
    lane             TEXT        NOT NULL,
    channel          TEXT        NOT NULL,
    event_id         UUID        NOT NULL,
    reason           TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL,
    first_failure_at TIMESTAMPTZ NOT NULL,
    resume_at        TIMESTAMPTZ NOT NULL,
    last_error       TEXT        NOT NULL,
    history          TEXT        NOT NULL,
    PRIMARY KEY (consumer_group, lane)
);

-- The ticket's `updated_at` a pending comment was sent against
-- (`safe_update`): a re-send with it is refused once the ticket changed.
ALTER TABLE pending_effects ADD COLUMN updated_stamp TEXT;
