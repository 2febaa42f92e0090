-- The catalogue a fresh install sells. Prices in cents.
INSERT INTO plans (slug, name, whm_package, disk_quota_mb, bandwidth_mb, mailbox_count,
                   price_monthly_cents, price_yearly_cents)
VALUES
    ('shared_student',  'Shared Student',  'mpanel_student',   5120,  51200,  5,  299,  2990),
    ('shared_starter',  'Shared Starter',  'mpanel_starter',  20480, 204800, 25,  699,  6990),
    ('shared_business', 'Shared Business', 'mpanel_business', 51200, 512000, 100, 1499, 14990)
ON CONFLICT (slug) DO NOTHING;

INSERT INTO promo_codes (code, percent_off) VALUES ('LAUNCH20', 20)
ON CONFLICT (code) DO NOTHING;

-- The first web server; DEFAULT_WEB_SERVER_ID=1 falls back to it.
INSERT INTO servers (id, hostname, ip_address, role, whm_endpoint)
VALUES (1, 'web1.migrahosting.com', '127.0.0.1', 'web', 'default')
ON CONFLICT (id) DO NOTHING;
SELECT setval('servers_id_seq', GREATEST((SELECT max(id) FROM servers), 1));
