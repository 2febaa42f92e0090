"""The hosting program under Pulumi mocks: the resource graph a spec turns into.

No servers and no engine here: `pulumi.runtime.set_mocks` stands in for the engine,
and a recording monitor keeps what each registration asked for (its dependencies
and which outputs must be secret), which is the program's whole job.
"""
from __future__ import annotations

import asyncio

import dataclasses

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor, Mocks

from stacks.program import HostingAccount
from stacks.spec import HostingSpec, MailboxSpec, RecordSpec

WHM_ACCOUNT_IP = "203.0.113.7"

# What each provider adds to its inputs once created (only the shape matters here).
CREATED = {
    "zone": {"dkim_private_key": "-----BEGIN PRIVATE KEY-----", "dkim_public_key": "MIIB", "serial": 1},
    "registration": {"status": "Active", "expires": "2027-11-26", "auto_renew": True, "locked": True},
    "certificate": {"certificate_pem": "CERT", "chain_pem": "CHAIN", "fullchain_pem": "CERTCHAIN",
                    "private_key_pem": "KEY", "not_after": "2027-02-24T00:00:00Z", "issuer": "Pebble"},
    # WHM's address for the account, deliberately not the spec's server_ip (the servers row's).
    "account": {"username": "shopexam", "password": "generated", "ip": WHM_ACCOUNT_IP,
                "cpanel_url": "https://web1.migrahosting.com:2083"},
    "tls": {},
    "mail-domain": {},
    "starter-page": {"stdout": "published: index.html", "stderr": ""},
}


class Recorder(MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.registered: dict[str, dict] = {}
        self.urns: dict[str, str] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        self.urns[response.urn] = request.name
        self.registered[request.name] = {
            "type": request.type, "dependencies": list(request.dependencies),
            "secret_outputs": list(request.additionalSecretOutputs), "parent": request.parent,
            "ignore_changes": list(request.ignoreChanges),
        }
        return response

    def deps(self, name: str) -> set[str]:
        return {self.urns.get(u, u) for u in self.registered[name]["dependencies"]}


class HostingMocks(Mocks):
    def __init__(self):
        self.inputs: dict[str, dict] = {}
        self.created = {name: dict(outputs) for name, outputs in CREATED.items()}  # a test may change them

    def new_resource(self, args):
        self.inputs[args.name] = dict(args.inputs)
        extra = self.created.get(args.name, {"password": "generated"} if args.name.startswith("mailbox-") else {})
        return f"{args.name}-id", {**args.inputs, **extra}

    def call(self, args):
        return {}


def a_spec(**changes) -> HostingSpec:
    spec = HostingSpec(
        subscription_id=42, customer_email="test@example.com", customer_name="Test Customer",
        plan_slug="shared_student", whm_package="mpanel_student", disk_quota_mb=5120, mailbox_allowance=5,
        domain="shop.example", domain_mode="external", server_id=1, server_hostname="web1.migrahosting.com",
        server_ip="192.0.2.10", whm_endpoint="default", nameservers=("ns1.migrahosting.com", "ns2.migrahosting.com"),
        mail_host="mail.migrahosting.com", site_ssh_user="", site_home_root="/home", ssh_address="192.0.2.10:22",
        ssh_host_key="ssh-ed25519 AAAAC3web1", ssh_private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nk\n",
        mailboxes=(MailboxSpec("admin", 1024),),
    )
    return dataclasses.replace(spec, **changes)


@pytest.fixture
def mocks():
    # Pulumi's mocks run on the main thread's event loop; a test that ran `asyncio.run` before
    # (the job queue's, in the same session) leaves the main thread without one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = HostingMocks()
    monitor = Recorder(mocks)
    pulumi.runtime.set_mocks(mocks, project="mpanel", stack="sub-42", preview=False, monitor=monitor)
    return mocks, monitor


def settle(account: HostingAccount, check):
    """Wait until every resource is registered, then run the assertions."""
    resources = [account.zone, account.certificate, account.account, account.tls, account.mail_domain,
                 account.starter_page, *account.mailboxes.values()]
    if account.registration is not None:
        resources.append(account.registration)
    return pulumi.Output.all(*[r.urn for r in resources]).apply(lambda _: check())


@pulumi.runtime.test
def test_an_external_domain_gets_no_registration_but_everything_else(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(domain_mode="external"))

    def check():
        assert "registration" not in monitor.registered
        assert {"zone", "certificate", "account", "tls", "mail-domain", "mailbox-admin", "starter-page"} \
            <= set(monitor.registered)
    return settle(account, check)


@pulumi.runtime.test
def test_a_new_registration_registers_with_our_nameservers_after_the_zone_exists(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(domain_mode="new_registration"))

    def check():
        reg = recorded.inputs["registration"]
        assert reg["mode"] == "new_registration" and reg["domain"] == "shop.example"
        assert reg["nameservers"] == ["ns1.migrahosting.com", "ns2.migrahosting.com"]
        assert "zone" in monitor.deps("registration")
    return settle(account, check)


@pulumi.runtime.test
def test_a_transfer_carries_its_auth_code_as_a_secret(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(domain_mode="transfer", auth_code="EPP-123"))

    def check():
        assert recorded.inputs["registration"]["mode"] == "transfer"
        # The engine's secret envelope: the value travels marked secret, never as plain text.
        auth = recorded.inputs["registration"]["auth_code"]
        assert auth["value"] == "EPP-123" and "4dabf18193072939515e22adb298388d" in auth
    return pulumi.Output.all(account.registration.urn, account.outputs["registration_status"]).apply(
        lambda _: check())


@pulumi.runtime.test
def test_resources_are_created_in_dependency_order(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec())

    def check():
        assert "zone" in monitor.deps("certificate")
        assert {"account", "certificate"} <= monitor.deps("tls")
        assert "zone" in monitor.deps("mail-domain")
        assert "mail-domain" in monitor.deps("mailbox-admin")
        assert "account" in monitor.deps("starter-page")
    return settle(account, check)


@pulumi.runtime.test
def test_the_zone_points_at_the_address_whm_gave_the_account_not_at_the_servers_row(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(server_ip="192.0.2.10"))

    def check(server_ip):
        assert recorded.inputs["zone"]["server_ip"] == WHM_ACCOUNT_IP == server_ip
        assert "account" in monitor.deps("zone")
        # Acyclic: the account needs nothing of the zone (and so nothing of the certificate).
        assert not {"zone", "certificate", "tls"} & monitor.deps("account")
    return pulumi.Output.all(account.zone.urn, account.certificate.urn, account.tls.urn,
                             account.outputs["server_ip"]).apply(lambda values: check(values[-1]))


@pulumi.runtime.test
def test_an_account_whm_reports_no_address_for_keeps_the_servers_row_address(mocks):
    recorded, monitor = mocks
    recorded.created["account"]["ip"] = ""
    account = HostingAccount(a_spec(server_ip="192.0.2.10"))

    def check(server_ip):
        assert recorded.inputs["zone"]["server_ip"] == "192.0.2.10" == server_ip
    return pulumi.Output.all(account.zone.urn, account.outputs["server_ip"]).apply(lambda values: check(values[-1]))


@pulumi.runtime.test
def test_the_plan_decides_the_whm_package_and_quota(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(whm_package="mpanel_business", disk_quota_mb=51200))

    def check():
        assert recorded.inputs["account"]["plan"] == "mpanel_business"
        assert recorded.inputs["account"]["quota_mb"] == 51200
    return settle(account, check)


@pulumi.runtime.test
def test_a_suspended_subscription_suspends_the_account_with_a_reason(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(suspended=True))

    def check():
        assert recorded.inputs["account"]["suspended"] is True
        assert recorded.inputs["account"]["suspend_reason"]
    return settle(account, check)


@pulumi.runtime.test
def test_generated_passwords_and_keys_are_secret_outputs(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec())

    def check():
        assert "password" in monitor.registered["account"]["secret_outputs"]
        assert "private_key_pem" in monitor.registered["certificate"]["secret_outputs"]
        assert "dkim_private_key" in monitor.registered["zone"]["secret_outputs"]
        assert "password" in monitor.registered["mailbox-admin"]["secret_outputs"]
    return settle(account, check)


@pulumi.runtime.test
def test_extra_mailboxes_and_records_come_from_the_spec(mocks):
    recorded, monitor = mocks
    spec = a_spec(mailboxes=(MailboxSpec("admin", 1024), MailboxSpec("sales", 2048)),
                  records=(RecordSpec("blog", "CNAME", "shop.example.", 3600),))
    account = HostingAccount(spec)

    def check():
        assert recorded.inputs["mailbox-sales"]["address"] == "sales@shop.example"
        assert recorded.inputs["mailbox-sales"]["quota_mb"] == 2048
        assert recorded.inputs["zone"]["records"] == [
            {"name": "blog", "type": "CNAME", "content": "shop.example.", "ttl": 3600}]
    return settle(account, check)


@pulumi.runtime.test
def test_outputs_name_the_account_and_keep_passwords_secret(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec())
    out = account.outputs

    def check(values):
        (url, user, not_after, mailbox, ip), secret_flags = values
        assert user == "shopexam" and url.endswith(":2083")
        assert mailbox == "admin@shop.example" and ip == WHM_ACCOUNT_IP
        assert not_after.startswith("2027")
        assert secret_flags == [True, True], "passwords must stay secret outputs"

    values = pulumi.Output.all(out["cpanel_url"], out["cpanel_username"], out["certificate_not_after"],
                               out["mailbox_address"], out["server_ip"])
    # Output._is_secret is the SDK's own future for "is this output secret".
    flags = pulumi.Output.all(pulumi.Output.from_input(out["cpanel_password"]._is_secret),
                              pulumi.Output.from_input(out["mailbox_password"]._is_secret))
    return pulumi.Output.all(values, flags).apply(check)


SECRET_SIG = "4dabf18193072939515e22adb298388d"


@pulumi.runtime.test
def test_the_starter_page_is_published_once_by_a_remote_command_pinned_to_the_servers_host_key(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec())

    def check():
        assert monitor.registered["starter-page"]["type"] == "command:remote:Command"
        page = recorded.inputs["starter-page"]
        # The connection carries the private key, so the engine keeps all of it secret.
        assert SECRET_SIG in page["connection"]
        connection = page["connection"]["value"]
        assert (connection["host"], connection["port"], connection["hostKey"]) == \
            ("192.0.2.10", 22, "ssh-ed25519 AAAAC3web1")
        # The login is the account's own user when no publishing user is configured.
        assert connection["user"] == "account-id"
        assert "/home/account-id/public_html" in page["create"] and "runuser -u account-id" in page["create"]
        assert "shop.example" in page["stdin"]
        # Nothing that could rewrite or remove the customer's page later: no update or delete
        # command, and a new template, login or address is no diff at all (never run again).
        assert "update" not in page and "delete" not in page
        assert sorted(monitor.registered["starter-page"]["ignore_changes"]) == ["connection", "create", "stdin"]
    return settle(account, check)


@pulumi.runtime.test
def test_a_configured_publishing_user_logs_in_instead_of_the_account(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(site_ssh_user="deploy"))

    def check():
        page = recorded.inputs["starter-page"]
        assert page["connection"]["value"]["user"] == "deploy"
        assert "runuser -u account-id" in page["create"]  # the page is still written as the account
    return settle(account, check)


@pulumi.runtime.test
def test_every_upstream_object_is_marked_with_the_subscriptions_stack(mocks):
    recorded, monitor = mocks
    account = HostingAccount(a_spec(domain_mode="new_registration", subscription_id=42,
                                    mailboxes=(MailboxSpec("admin", 1024), MailboxSpec("sales", 1024))))

    def check():
        marked = ("account", "zone", "registration", "mail-domain", "mailbox-admin", "mailbox-sales")
        assert {name: recorded.inputs[name].get("owner") for name in marked} == {name: "sub-42" for name in marked}
    return settle(account, check)
