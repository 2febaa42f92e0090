-- Domain eligibility (app/services/eligibility.py).
--
-- The extensions a plan may register or transfer in, as public suffixes without the dot
-- ("com", "co.uk"); a domain the customer brings (domainMode external) is not limited by it.
-- A plan added later sells the three classic extensions until the operator says otherwise.
ALTER TABLE plans ADD COLUMN allowed_tlds text[] NOT NULL DEFAULT '{com,net,org}';

UPDATE plans SET allowed_tlds = '{com,net,org,info,xyz,site}' WHERE slug = 'shared_student';
UPDATE plans SET allowed_tlds = '{com,net,org,info,xyz,site,biz,us,me,dev,app,uk,co.uk}'
    WHERE slug = 'shared_starter';
UPDATE plans SET allowed_tlds = '{com,net,org,info,xyz,site,biz,us,me,dev,app,uk,co.uk,io,co,ca,de,eu}'
    WHERE slug = 'shared_business';

-- "Is a live domain hosted under this name?" is a prefix search on the reversed name
-- (reverse('shop.victim.com') starts with reverse('.victim.com')): an index range scan.
CREATE INDEX domains_name_reversed_live ON domains (reverse(name) text_pattern_ops) WHERE status <> 'released';
