-- The customer's DNS editor (issue 14): how many records of their own each plan allows.
-- Customer records are rows in dns_records (0001), applied by the zone's next converge.
ALTER TABLE plans ADD COLUMN IF NOT EXISTS dns_record_limit integer NOT NULL DEFAULT 50
    CHECK (dns_record_limit >= 0);
UPDATE plans SET dns_record_limit = 20 WHERE slug = 'shared_student' AND dns_record_limit = 50;
UPDATE plans SET dns_record_limit = 200 WHERE slug = 'shared_business' AND dns_record_limit = 50;
CREATE INDEX IF NOT EXISTS dns_records_domain_idx ON dns_records (domain_id);
