-- Pricing rules (SPEC §2) and the default rule set: cost brackets per stone type.
CREATE TABLE pricing_rules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    priority INTEGER NOT NULL,
    stone_type TEXT CHECK (stone_type IN ('natural', 'lab', 'fancy')),
    feed TEXT CHECK (feed <> ''),
    price_min NUMERIC(12,2) CHECK (price_min IS NULL OR price_min >= 0),
    price_max NUMERIC(12,2) CHECK (price_max IS NULL OR price_max >= 0),
    margin_modifier NUMERIC(5,2) NOT NULL DEFAULT 0,
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 10),
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pricing_rules_price_range CHECK (
        price_min IS NULL OR price_max IS NULL OR price_min <= price_max
    )
);

-- Precedence order of active rules: priority, then age, then id.
CREATE INDEX pricing_rules_active_precedence
    ON pricing_rules (priority, created_at, id) WHERE active;

INSERT INTO pricing_rules (priority, stone_type, price_min, price_max, margin_modifier)
SELECT kinds.base_priority + brackets.position,
       kinds.stone_type,
       brackets.price_min,
       brackets.price_max,
       brackets.margin_modifier
FROM (VALUES ('natural', 10), ('lab', 20), ('fancy', 30)) AS kinds (stone_type, base_priority)
CROSS JOIN (VALUES
    (0, 0.00, 499.99, 6.00),
    (1, 500.00, 999.99, 6.00),
    (2, 1000.00, 2999.99, 3.00),
    (3, 3000.00, 5999.99, 0.00),
    (4, 6000.00, 9999.99, -4.00),
    (5, 10000.00, 19999.99, -9.00),
    (6, 20000.00, NULL, -14.00)
) AS brackets (position, price_min, price_max, margin_modifier);
