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
