-- Billing: teams and their Stripe subscriptions.
CREATE TABLE teams (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    slug       text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id                     text        PRIMARY KEY,
    reference_id           text        NOT NULL,
    plan                   text        NOT NULL,
    status                 text        NOT NULL DEFAULT 'incomplete',
    stripe_customer_id     text,
    stripe_subscription_id text UNIQUE,
    period_start           timestamptz,
    period_end             timestamptz,
    cancel_at_period_end   boolean     NOT NULL DEFAULT false,
    seats                  integer CHECK (seats > 0)
);
