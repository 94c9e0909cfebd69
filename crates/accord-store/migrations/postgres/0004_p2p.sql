-- Procure-to-pay read models: documents may carry a natural key (a purchase order's
-- number, which invoices quote), and the tallies behind contract compliance and savings
-- realisation, one row per scope and currency, added to by each matched invoice.
ALTER TABLE documents ADD COLUMN reference TEXT;
CREATE INDEX documents_reference ON documents (kind, reference) WHERE reference IS NOT NULL;

CREATE TABLE tallies (
    scope             TEXT NOT NULL,
    currency          TEXT NOT NULL,
    invoices          BIGINT NOT NULL,
    lines             BIGINT NOT NULL,
    compliant_lines   BIGINT NOT NULL,
    terms_checked     BIGINT NOT NULL,
    compliant_terms   BIGINT NOT NULL,
    savings_lines     BIGINT NOT NULL,
    negotiated_micros BIGINT NOT NULL,
    realised_micros   BIGINT NOT NULL,
    last_seq          BIGINT NOT NULL,
    PRIMARY KEY (scope, currency)
);
