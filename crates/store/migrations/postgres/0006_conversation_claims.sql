-- Conversation claims (fencing across router replicas, decision 39): the
-- router that acts on Zendesk for a conversation (lane) holds its row until
-- `expires_at` (the database's clock), renewing it while it works. `token`
-- comes from one sequence, so a claim taken anew always has a higher token
-- than any claim before it, even after the row was released (deleted).
CREATE SEQUENCE conversation_claim_tokens;

CREATE TABLE conversation_claims (
    lane       TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,
    token      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
