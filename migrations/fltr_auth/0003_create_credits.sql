-- Credits: a balance per user, an append-only ledger, and per-API-key allowances.
CREATE TABLE user_credits (
    user_id    text          PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    numeric(12,2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE credit_transactions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount      numeric(12,2) NOT NULL,
    reason      text          NOT NULL,
    reference   text,
    created_at  timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE api_key_credits (
    api_key_id  text          PRIMARY KEY,
    user_id     text          NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    monthly_cap numeric(12,2),
    used        numeric(12,2) NOT NULL DEFAULT 0,
    reset_at    timestamptz
);

CREATE INDEX credit_transactions_user_id_created_at_idx ON credit_transactions (user_id, created_at DESC);
CREATE INDEX api_key_credits_user_id_idx ON api_key_credits (user_id);
