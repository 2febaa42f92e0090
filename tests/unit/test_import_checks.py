"""An import's checks (app/services/operators/imports.py `check_import`), with what was read in memory."""
from __future__ import annotations

import pytest

from app.services.operators.import_billing import StripeLink
from app.services.operators.imports import ImportRefused, ImportRequest, Upstream, check_import
from providers.rules.dns_records import SPF, dmarc_text, txt_content

PLANS = [{"id": 1, "slug": "starter", "name": "Starter", "whm_package": "mpanel_starter", "disk_quota_mb": 5120,
          "mailbox_count": 1, "active": True},
         {"id": 2, "slug": "business", "name": "Business", "whm_package": "mpanel_business", "disk_quota_mb": 20480,
          "mailbox_count": 10, "active": True}]
NS = ["ns1.mpanel.test", "ns2.mpanel.test"]


def zone(domain="shop.example", extra=(), a="192.0.2.10", account=""):
    apex = f"{domain}."

    def rrset(name, rtype, contents, ttl=3600):
        return {"name": name, "type": rtype, "ttl": ttl, "records": [{"content": c, "disabled": False} for c in contents]}
    return {"name": apex, "account": account, "rrsets": [
        rrset(apex, "SOA", ["ns1.mpanel.test. hostmaster. 1 10800 3600 604800 3600"]),
        rrset(apex, "NS", [f"{n}." for n in NS]), rrset(apex, "A", [a]), rrset(f"www.{apex}", "A", [a]),
        rrset(apex, "MX", ["10 mail.mpanel.test."]), rrset(apex, "TXT", [txt_content(SPF)]),
        rrset(f"_dmarc.{apex}", "TXT", [txt_content(dmarc_text(domain))]),
        rrset(f"mpanel._domainkey.{apex}", "TXT", [txt_content("v=DKIM1; k=rsa; p=AAAA")]), *extra]}


def upstream(**changes):
    values = dict(server={"id": 2, "ip_address": "192.0.2.10"}, plans=PLANS, nameservers=NS,
                  mail_host="mail.mpanel.test",
                  account={"user": "shop", "domain": "shop.example", "plan": "mpanel_starter", "disklimit": "5120M",
                           "ip": "192.0.2.10"},
                  zone=zone())
    values.update(changes)
    return Upstream(**values)


REQUEST = ImportRequest("2", "shop", "owner@shop.example")


def test_an_account_as_the_stack_would_build_it_can_be_taken_over_with_its_own_records():
    extra = {"name": "blog.shop.example.", "type": "CNAME", "ttl": 300,
             "records": [{"content": "hosted.example.net.", "disabled": False}]}
    plan = check_import(REQUEST, upstream(zone=zone(extra=[extra])))
    assert plan.plan["slug"] == "starter" and plan.domain == "shop.example"
    assert plan.customer_records == [{"name": "blog", "type": "CNAME", "content": "hosted.example.net.", "ttl": 300}]


def test_an_unknown_package_is_refused_saying_which():
    up = upstream(account={"user": "shop", "domain": "shop.example", "plan": "gold_legacy", "disklimit": "5120M",
                           "ip": "192.0.2.10"})
    with pytest.raises(ImportRefused) as refused:
        check_import(REQUEST, up)
    assert any("gold_legacy" in p and "no plan's" in p for p in refused.value.problems)


def test_a_plan_that_is_not_the_accounts_package_or_quota_is_refused():
    with pytest.raises(ImportRefused) as refused:
        check_import(ImportRequest("2", "shop", "o@shop.example", plan="business"), upstream())
    assert "would change the package" in refused.value.message
    up = upstream(account={"user": "shop", "domain": "shop.example", "plan": "mpanel_starter", "disklimit": "999M",
                           "ip": "192.0.2.10"})
    with pytest.raises(ImportRefused, match="would change the quota"):
        check_import(REQUEST, up)


def test_an_account_already_managed_ordered_or_marked_is_refused():
    for changes, words in [({"managed_as": 7}, "already managed by the stack sub-7"),
                           ({"ordered_as": 8}, "already ordered as sub-8"),
                           ({"whm_claim": {"owner": "sub-9"}}, "claimed for a WHM account of the stack sub-9"),
                           ({"zone": zone(account="sub-3")}, "marked as the stack sub-3's"),
                           ({"mail_domain": {"name": "shop.example", "owner": "sub-4"}}, "sub-4's")]:
        with pytest.raises(ImportRefused, match=words):
            check_import(REQUEST, upstream(**changes))


def test_a_managed_record_that_differs_names_the_record_and_what_the_zone_would_write():
    with pytest.raises(ImportRefused) as refused:
        check_import(REQUEST, upstream(zone=zone(a="198.51.100.7")))
    assert any(p.startswith("the @ A record is ['198.51.100.7']") for p in refused.value.problems)


def test_a_record_our_rules_refuse_stops_the_import():
    bad = {"name": "_acme-challenge.shop.example.", "type": "CNAME", "ttl": 300,
           "records": [{"content": "x.example.", "disabled": False}]}
    both = [{"name": "dup.shop.example.", "type": "CNAME", "ttl": 300,
             "records": [{"content": "x.example.", "disabled": False}]},
            {"name": "dup.shop.example.", "type": "TXT", "ttl": 300,
             "records": [{"content": '"hello"', "disabled": False}]}]
    with pytest.raises(ImportRefused, match="CNAME at dup cannot stand beside"):
        check_import(REQUEST, upstream(zone=zone(extra=both)))
    assert check_import(REQUEST, upstream(zone=zone(extra=[bad])))  # ACME names are skipped, never imported


def test_a_missing_account_zone_or_bad_email_and_billing_are_refused():
    with pytest.raises(ImportRefused, match="no account shop"):
        check_import(REQUEST, upstream(account=None))
    with pytest.raises(ImportRefused, match="no zone shop.example"):
        check_import(REQUEST, upstream(zone=None))
    with pytest.raises(ImportRefused, match="not an email address.*billing"):
        check_import(ImportRequest("2", "shop", "nope", billing="paypal"), upstream())


def _problems(up, request=REQUEST) -> list[str]:
    with pytest.raises(ImportRefused) as refused:
        check_import(request, up)
    return refused.value.problems


def test_a_managed_record_with_another_ttl_is_refused_because_the_zone_would_rewrite_it():
    changed = zone()
    ns = next(r for r in changed["rrsets"] if r["type"] == "NS")
    ns["ttl"] = 86400
    assert any(p.startswith("the @ NS record") and "ttl 86400" in p and "ttl 3600" in p
               for p in _problems(upstream(zone=changed)))


def test_a_suspended_account_is_refused():
    account = {"user": "shop", "domain": "shop.example", "plan": "mpanel_starter", "disklimit": "5120M",
               "ip": "192.0.2.10", "suspended": 1}
    assert any("suspended" in p for p in _problems(upstream(account=account)))


def test_mailboxes_are_kept_as_rows_and_one_mpanel_cannot_say_as_it_is_is_refused():
    domain = {"name": "shop.example", "owner": None, "dkim_selector": "mpanel", "routable": True}
    kept = [{"address": "info@shop.example", "local_part": "info", "quota_mb": 2048, "active": True}]
    plan = check_import(REQUEST, upstream(mail_domain=domain, mailboxes=kept))
    assert plan.mailboxes == [{"local_part": "info", "quota_mb": 2048}]

    odd = kept + [{"address": "big@shop.example", "local_part": "big", "quota_mb": 500000, "active": True},
                  {"address": "off@shop.example", "local_part": "off", "quota_mb": 100, "active": False}]
    problems = _problems(upstream(mail_domain=domain, mailboxes=odd))
    assert any("big@shop.example" in p and "quota" in p for p in problems)
    assert any("off@shop.example" in p and "disabled" in p for p in problems)
    assert not any("info@" in p for p in problems)


def test_a_mail_domain_relaying_out_or_signing_with_another_selector_is_refused():
    domain = {"name": "shop.example", "owner": None, "dkim_selector": "default", "routable": False}
    problems = _problems(upstream(mail_domain=domain))
    assert any("selector" in p for p in problems) and any("routable" in p for p in problems)


# --- `--billing stripe:<id>`: the Stripe subscription as read (app/services/operators/import_billing.py)

STRIPE_PLANS = [{**p, "stripe_price_monthly": f"price_{p['slug']}_m", "stripe_price_yearly": f"price_{p['slug']}_y"}
                for p in PLANS]


def stripe_sub(status="active", prices=("price_starter_y",)):
    return {"id": "sub_Old1", "customer": "cus_Old1", "status": status, "cancel_at_period_end": False,
            "items": {"data": [{"price": {"id": p}, "quantity": 1, "current_period_end": 1900000000}
                               for p in prices]}}


def linked(remote=None, held_by=None, **sub):
    remote = stripe_sub(**sub) if remote is None else remote
    price = remote["items"]["data"][0]["price"]["id"] if remote and remote["items"]["data"] else None
    plan = next((p for p in STRIPE_PLANS if price in (p["stripe_price_monthly"], p["stripe_price_yearly"])), None)
    return StripeLink("sub_Old1", remote or None, plan, held_by)


STRIPE_REQUEST = ImportRequest("2", "shop", "owner@shop.example", billing="stripe:sub_Old1")


def _billing_refusal(link: StripeLink) -> ImportRefused:
    with pytest.raises(ImportRefused) as refused:
        check_import(STRIPE_REQUEST, upstream(plans=STRIPE_PLANS, stripe=link))
    assert refused.value.field == "billing"
    assert all(p.startswith("--billing stripe:sub_Old1") for p in refused.value.problems)
    return refused.value


@pytest.mark.parametrize("status", ["active", "trialing", "past_due"])
def test_a_stripe_subscription_billing_the_accounts_plan_is_linked_with_its_cycle(status):
    plan = check_import(STRIPE_REQUEST, upstream(plans=STRIPE_PLANS, stripe=linked(status=status)))
    assert plan.stripe.stripe_subscription_id == "sub_Old1"
    assert (plan.plan["slug"], plan.billing_cycle) == ("starter", "yearly")
    monthly = check_import(STRIPE_REQUEST, upstream(plans=STRIPE_PLANS, stripe=linked(prices=("price_starter_m",))))
    assert monthly.billing_cycle == "monthly"


def test_external_billing_links_nothing():
    assert check_import(REQUEST, upstream()).stripe is None


@pytest.mark.parametrize("link,words", [
    (StripeLink("sub_Old1"), "Stripe has no subscription sub_Old1"),
    (linked(status="canceled"), "is canceled; only an active, trialing or past-due one"),
    (linked(status="incomplete"), "is incomplete"),
    (linked(prices=("price_someone_elses",)), "price_someone_elses is no plan's Stripe price"),
    (linked(prices=("price_business_m",)), "the plan business's, the account is on starter"),
    (linked(prices=("price_starter_m", "price_addon")), "bills 2 item(s)"),
    (linked(held_by=12), "already bills sub-12"),
])
def test_a_stripe_subscription_that_cannot_bill_the_account_is_refused_naming_the_billing(link, words):
    assert words in _billing_refusal(link).message


def test_a_billing_problem_beside_an_account_problem_names_the_account():
    with pytest.raises(ImportRefused) as refused:
        check_import(STRIPE_REQUEST, upstream(plans=STRIPE_PLANS, stripe=linked(status="canceled"), zone=None))
    assert refused.value.field == "account" and "is canceled" in refused.value.message


def registration(nameservers=NS, auto_renew="No", expires="2031-03-04"):
    """NameSilo's getDomainInfo for a domain in the account."""
    return {"code": 300, "status": "Active", "expires": expires, "auto_renew": auto_renew, "locked": "Yes",
            "nameservers": [{"position": i, "nameserver": n} for i, n in enumerate(nameservers, start=1)]}


def test_a_domain_in_the_registrar_account_is_taken_over_as_registered_keeping_its_auto_renewal():
    plan = check_import(REQUEST, upstream(registered=True, registration=registration()))
    assert (plan.registered, plan.domain_mode) == (True, "new_registration")
    assert plan.registration == {"auto_renew": False, "expires": "2031-03-04"}


def test_a_domain_not_in_the_registrar_account_stays_external():
    plan = check_import(REQUEST, upstream())
    assert (plan.registered, plan.domain_mode, plan.registration) == (False, "external", None)


@pytest.mark.parametrize("nameservers", [["ns1.cloudflare.com", "ns2.cloudflare.com"], list(reversed(NS)), NS[:1]])
def test_a_registration_delegated_elsewhere_is_refused_naming_both_delegations(nameservers):
    problems = _problems(upstream(registered=True, registration=registration(nameservers)))
    assert len(problems) == 1
    assert f"delegated to {', '.join(nameservers)}" in problems[0]
    assert f"would delegate it to {', '.join(NS)}" in problems[0] and "never redelegates" in problems[0]


def test_a_registration_another_stack_claimed_is_refused():
    problems = _problems(upstream(registered=True, registration=registration(),
                                  registration_claim={"owner": "sub-9", "detail": "new_registration"}))
    assert problems == ["the domain shop.example is claimed at the registrar for the stack sub-9"]


@pytest.mark.parametrize("status", ["Expired", "Pending Outbound Transfer", ""])
def test_a_registration_that_is_not_active_is_refused_naming_its_status(status):
    problems = _problems(upstream(registered=True, registration={**registration(), "status": status}))
    assert problems == [f"the domain shop.example is in the NameSilo account with the status {status or 'unknown'}: "
                        "only an active registration is taken over; settle it at NameSilo first"]


def test_the_check_says_whether_the_installed_certificate_is_taken_over_or_a_new_one_issued():
    from tests.unit.test_certificate_takeover_rules import installed

    assert "a new certificate is issued: no certificate is installed" in check_import(REQUEST, upstream()).certificate
    usable = installed(["shop.example", "www.shop.example"], days_left=10000, starts_days_ago=10000)
    assert check_import(REQUEST, upstream(certificate=usable)).certificate.startswith(
        "the installed certificate (expires ")
    narrow = installed(["shop.example"], days_left=10000, starts_days_ago=10000)
    assert check_import(REQUEST, upstream(certificate=narrow)).certificate == \
        "a new certificate is issued: the certificate does not cover www.shop.example (it names shop.example)"
