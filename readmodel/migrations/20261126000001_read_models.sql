-- The query side of the shop: tables the projector fills from the compacted state topics and
-- the order events, and the ingress reads. Every row carries the version of the record it came
-- from; an older version never overwrites a newer one.

-- Where the projector stands, per consumer group and input partition: written in the same
-- transaction as the rows, so the tables and the offsets never disagree.
CREATE TABLE projector_offsets (
    group_id    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

CREATE TABLE products (
    product_id  text        PRIMARY KEY,
    name        text        NOT NULL,
    description text        NOT NULL,
    price_cents bigint      NOT NULL,
    currency    text        NOT NULL,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- Word search over name and description, language-neutral ('simple': no stemming).
    search      tsvector GENERATED ALWAYS AS
                (to_tsvector('simple', name || ' ' || description)) STORED
);
CREATE INDEX products_by_name ON products (name, product_id);
CREATE INDEX products_by_price ON products (price_cents, product_id);
CREATE INDEX products_search ON products USING gin (search);

CREATE TABLE carts (
    user_id    text        PRIMARY KEY,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz
);

CREATE TABLE cart_lines (
    user_id    text        NOT NULL REFERENCES carts (user_id) ON DELETE CASCADE,
    position   integer     NOT NULL,
    product_id text        NOT NULL,
    quantity   integer     NOT NULL,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, product_id)
);

CREATE TABLE stock_levels (
    product_id text        PRIMARY KEY,
    available  integer     NOT NULL,
    reserved   integer     NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE orders (
    order_id         text        PRIMARY KEY,
    user_id          text        NOT NULL,
    status           text        NOT NULL,
    total_cents      bigint      NOT NULL,
    currency         text        NOT NULL,
    authorization_id text,
    reason           text,
    version          bigint      NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, order_id DESC);

CREATE TABLE order_lines (
    order_id         text    NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    position         integer NOT NULL,
    product_id       text    NOT NULL,
    name             text    NOT NULL,
    quantity         integer NOT NULL,
    unit_price_cents bigint  NOT NULL,
    currency         text    NOT NULL,
    stock            text    NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- One row per status transition, from orders.events; the event id makes a replay harmless.
-- Not tied to orders by a foreign key: the events and the state are separate topics, and
-- either may be projected first.
CREATE TABLE order_status_history (
    event_id        text        PRIMARY KEY,
    order_id        text        NOT NULL,
    status          text        NOT NULL,
    previous_status text,
    reason          text,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, occurred_at, event_id);
