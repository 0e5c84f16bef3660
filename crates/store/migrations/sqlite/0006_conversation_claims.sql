-- Conversation claims (fencing across router replicas, decision 39): the
-- router that acts on Zendesk for a conversation (lane) holds its row until
-- `expires_at_ms` (Unix milliseconds), renewing it while it works. Tokens
-- are ids of `conversation_claim_tokens` (AUTOINCREMENT never reuses one),
-- so a claim taken anew always has a higher token than any claim before it,
-- even after the row was released (deleted).
CREATE TABLE conversation_claims (
    lane          TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    token         INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE conversation_claim_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT
);
