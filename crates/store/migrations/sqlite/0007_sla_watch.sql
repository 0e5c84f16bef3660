-- The SLA watch (issue 14 rule 7, decision 41).
--
-- Leader leases: one row per named role that only one replica may play at a
-- time (the SLA watch scheduler). The holder keeps it by renewing before
-- `expires_at_ms` (Unix milliseconds); anyone may take an expired row.
CREATE TABLE leader_leases (
    name          TEXT    PRIMARY KEY NOT NULL,
    holder        TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- First-response deadlines of new tickets and how far their watch went:
-- `watching` -> `warning` (tag and note on the ticket) -> `warned` (Slack
-- told) -> `breached`; or `answered` / `closed` / `gone`, which end it.
-- Times are Unix milliseconds.
CREATE TABLE sla_watches (
    ticket_id   INTEGER PRIMARY KEY NOT NULL,
    channel     TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    calendar    TEXT    NOT NULL,
    locale      TEXT,
    due_at_ms   INTEGER NOT NULL,
    warn_at_ms  INTEGER NOT NULL,
    stage       TEXT    NOT NULL,
    stage_at_ms INTEGER NOT NULL
);

CREATE INDEX sla_watches_open ON sla_watches (stage, warn_at_ms);
