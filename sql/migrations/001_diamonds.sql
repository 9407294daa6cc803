-- Diamonds: one row per stone per supplier feed (SPEC §2).
CREATE TABLE diamonds (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    feed TEXT NOT NULL CHECK (feed <> ''),
    supplier_stone_id TEXT NOT NULL CHECK (supplier_stone_id <> ''),
    shape TEXT,
    carats NUMERIC(6,2) CHECK (carats IS NULL OR carats >= 0),
    color TEXT,
    clarity TEXT,
    cut TEXT,
    polish TEXT,
    symmetry TEXT,
    fluorescence TEXT,
    lab_grown BOOLEAN NOT NULL DEFAULT false,
    fancy_color TEXT,
    fancy_intensity TEXT,
    certificate_lab TEXT,
    certificate_number TEXT,
    image_url TEXT,
    -- Stone type as the pricing engine sees it; generated so filters and job scopes agree with it.
    stone_type TEXT GENERATED ALWAYS AS (
        CASE
            WHEN coalesce(btrim(fancy_color), '') <> '' THEN 'fancy'
            WHEN lab_grown THEN 'lab'
            ELSE 'natural'
        END
    ) STORED,
    feed_price NUMERIC(12,2) NOT NULL CHECK (feed_price >= 0),
    price_model_price NUMERIC(12,2) NOT NULL CHECK (price_model_price >= 0),
    markup_ratio NUMERIC(5,4) CHECK (markup_ratio IS NULL OR markup_ratio > 0),
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 10),
    price_per_carat NUMERIC(12,2),
    availability TEXT NOT NULL DEFAULT 'available'
        CHECK (availability IN ('available', 'on_hold', 'sold', 'unavailable')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT diamonds_feed_stone_unique UNIQUE (feed, supplier_stone_id)
);

-- Catalog search (GET /api/v2/diamonds). Every search filters on availability (default
-- 'available'); these serve its keyset sorts with an ordered index scan:
-- newest first (the default) and by carats (also carats ranges).
CREATE INDEX diamonds_catalog_created ON diamonds (availability, created_at, id);
CREATE INDEX diamonds_catalog_carats ON diamonds (availability, carats, id);
-- Deliberately NOT indexed: price_model_price, markup_ratio, rating. The reapply job rewrites
-- them for up to every available diamond; an index on any of them turns its updates from HOT
-- into full updates (every index touched, heap and indexes bloated) and was measured to halve
-- bulk repricing throughput (shared/perf-notes.md). Sorting or filtering by price or rating is
-- therefore a sort over the filtered rows (measured in bench/catalog_bench.py); the response
-- cache absorbs repeated queries. Feed and the other attribute filters are served by these
-- indexes' filters (or the (feed, supplier_stone_id) unique index) rather than an index each.
