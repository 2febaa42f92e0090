"""The sync report's comparison (app/services/operators/sync_report.py `compare`), with lists in memory."""
from __future__ import annotations

from app.services.operators.sync_report import compare

SERVER = {"id": 2, "name": "web2", "hostname": "web2.example.net", "ip_address": "192.0.2.10"}


def account(user, domain, plan="mpanel_starter", suspended=0, ip="192.0.2.10"):
    return {"user": user, "domain": domain, "plan": plan, "suspended": suspended, "ip": ip, "email": "x@y.example"}


def stack(sid, domain, user, status="active", package="mpanel_starter", ip=None):
    return {"subscription_id": sid, "status": status, "whm_package": package, "domain": domain,
            "cpanel_username": user, "ip_address": ip}


def test_an_account_no_stack_manages_is_listed_with_what_an_import_needs():
    report = compare(SERVER, [account("shop", "shop.example"), account("old", "old.example", plan="legacy")],
                     [stack(1, "shop.example", "shop")], live_domains={"shop.example": 1})
    assert [a["user"] for a in report.unmanaged_accounts] == ["old"]
    assert report.unmanaged_accounts[0]["package"] == "legacy"
    assert report.counts["unmanaged_accounts"] == 1 and not report.differing_accounts


def test_a_stack_whose_recorded_account_is_gone_is_missing_but_one_not_made_yet_is_not():
    report = compare(SERVER, [], [stack(1, "a.example", "aexample"), stack(2, "b.example", None)])
    assert [a["stack"] for a in report.missing_accounts] == ["sub-1"]


def test_package_suspension_domain_and_address_differences_are_named():
    report = compare(SERVER, [account("shop", "other.example", plan="mpanel_business", suspended=1, ip="192.0.2.99")],
                     [stack(1, "shop.example", "shop", ip="192.0.2.10")])
    (found,) = report.differing_accounts
    assert {d["what"] for d in found["differences"]} == {"package", "suspended", "domain", "ip"}


def test_a_canceled_stack_wants_its_account_suspended():
    report = compare(SERVER, [account("shop", "shop.example", suspended=1)],
                     [stack(1, "shop.example", "shop", status="canceled")])
    assert not report.differing_accounts


def test_zones_mail_domains_and_registrations_without_a_live_stack_or_order_are_listed():
    report = compare(SERVER, [], [], zones=[{"name": "ours.example.", "account": "sub-1"},
                                            {"name": "theirs.example.", "account": ""},
                                            {"name": "gone.example.", "account": "sub-9"}],
                     mail_domains=[{"name": "ours.example", "owner": "sub-1", "mailboxes": 1},
                                   {"name": "theirs.example", "owner": None, "mailboxes": 3}],
                     registered=["ours.example", "theirs.example"],
                     live_stacks={"sub-1"}, live_domains={"ours.example": 1})
    assert [z["zone"] for z in report.unmanaged_zones] == ["theirs.example", "gone.example"]
    assert [d["domain"] for d in report.unmanaged_mail_domains] == ["theirs.example"]
    assert report.unordered_registrations == [{"domain": "theirs.example"}]


def test_an_upstream_that_could_not_be_read_is_left_out_not_reported_empty():
    report = compare(SERVER, [], [], zones=None, mail_domains=None, registered=None)
    assert report.counts == {k: 0 for k in report.counts}
    assert report.as_dict()["counts"]["unmanaged_zones"] == 0
