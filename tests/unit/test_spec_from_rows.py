"""A subscription's spec from rows given in memory (stacks/spec.py): no database, no clock."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from stacks.spec import SpecDefaults, spec_from_rows

DEFAULTS = SpecDefaults(nameservers=("ns1.example.net", "ns2.example.net"), mail_host="mail.example.net",
                        site_ssh_user="", site_home_root="/home")
SERVER = {"id": 3, "hostname": "web3.example.net", "ip_address": "192.0.2.30",
          "whm_endpoint": "https://web3.example.net:2087", "ssh_host_key": "ssh-ed25519 AAAAC3server3"}


def a_subscription(**changes) -> dict:
    row = {"id": 42, "status": "active", "server_id": 3, "activated_at": None, "email": "ada@example.net",
           "first_name": "Ada", "last_name": "Lovelace", "slug": "shared_student", "whm_package": "student",
           "disk_quota_mb": 5120, "mailbox_count": 5, "mailbox_quota_mb": 1024, "domain_id": 7,
           "domain": "example.com", "domain_mode": "external", "auth_code_encrypted": None,
           "cpanel_password_resets": 0}
    row.update(changes)
    return row


def opened(token: bytes) -> str:
    """A stand-in for Fernet: the test sees exactly what was decrypted."""
    return "plain:" + token.decode()


def spec(subscription=None, mailboxes=(), records=(), defaults=DEFAULTS, decrypt=opened, server=SERVER):
    return spec_from_rows(subscription or a_subscription(), server, mailboxes, records, defaults, decrypt)


def test_the_spec_carries_the_subscription_plan_domain_and_server():
    s = spec()
    assert (s.subscription_id, s.stack_name, s.customer_email, s.customer_name) == \
        (42, "sub-42", "ada@example.net", "Ada Lovelace")
    assert (s.plan_slug, s.whm_package, s.disk_quota_mb, s.mailbox_allowance) == ("shared_student", "student", 5120, 5)
    assert (s.domain, s.domain_mode) == ("example.com", "external")
    assert (s.server_id, s.server_hostname, s.server_ip, s.whm_endpoint) == \
        (3, "web3.example.net", "192.0.2.30", "https://web3.example.net:2087")


def test_operator_wide_values_come_from_the_defaults():
    s = spec()
    assert s.nameservers == ("ns1.example.net", "ns2.example.net") and s.mail_host == "mail.example.net"
    assert (s.site_ssh_user, s.site_home_root) == ("", "/home")


def test_without_an_ssh_address_the_server_is_reached_on_port_22():
    assert spec().ssh_address == "192.0.2.30:22"


def test_a_configured_ssh_address_wins_over_the_servers():
    assert spec(defaults=dataclasses.replace(DEFAULTS, ssh_address="127.0.0.1:2222")).ssh_address == "127.0.0.1:2222"


def test_an_ip_address_object_from_the_database_becomes_text():
    import ipaddress

    assert spec(server={**SERVER, "ip_address": ipaddress.ip_address("192.0.2.31")}).server_ip == "192.0.2.31"


def test_a_customer_without_a_last_name_has_no_trailing_space():
    assert spec(a_subscription(last_name="")).customer_name == "Ada"


@pytest.mark.parametrize("status,suspended,terminated", [
    ("active", False, False), ("past_due", False, False), ("canceled", True, False),
    ("suspended", True, False), ("terminated", False, True),
])
def test_the_billing_status_decides_whether_the_account_is_switched_off_or_gone(status, suspended, terminated):
    s = spec(a_subscription(status=status))
    assert (s.suspended, s.terminated) == (suspended, terminated)


@pytest.mark.parametrize("status,reason", [("suspended", "Billing: payment overdue"),
                                           ("canceled", "Billing: subscription canceled")])
def test_a_switched_off_account_says_why(status, reason):
    assert spec(a_subscription(status=status)).suspend_reason == reason


def test_a_staff_suspension_gives_whm_the_reason_staff_typed():
    row = a_subscription(status="suspended", suspended_by="staff", suspend_reason="phishing pages reported")
    assert spec(row).suspend_reason == "phishing pages reported"
    # A canceled order says so, whoever suspended it before.
    assert spec({**row, "status": "canceled"}).suspend_reason == "Billing: subscription canceled"


def test_a_subscription_never_activated_has_not_converged_before():
    assert spec().converged_before is False
    assert spec(a_subscription(activated_at=dt.datetime(2025, 1, 1))).converged_before is True


def test_every_spec_has_the_admin_mailbox_with_the_plans_quota_and_no_password():
    (admin,) = spec().mailboxes
    assert (admin.local_part, admin.quota_mb, admin.password, admin.row_id) == ("admin", 1024, None, None)


def test_a_chosen_password_is_decrypted_and_its_ciphertext_kept_to_forget_it_later():
    box = {"id": 9, "local_part": "sales", "quota_mb": 512, "password_encrypted": memoryview(b"tok")}
    admin, sales = spec(mailboxes=[box]).mailboxes
    assert (sales.local_part, sales.quota_mb, sales.row_id) == ("sales", 512, 9)
    assert sales.password == "plain:tok" and sales.password_token == b"tok"


def test_a_mailbox_whose_password_was_already_set_carries_none():
    box = {"id": 9, "local_part": "sales", "quota_mb": 512, "password_encrypted": None}
    sales = spec(mailboxes=[box]).mailboxes[1]
    assert sales.password is None and sales.password_token is None


def test_mailboxes_beyond_a_smaller_plans_allowance_are_all_kept():
    boxes = [{"id": i, "local_part": f"m{i}", "quota_mb": 100, "password_encrypted": None} for i in range(8)]
    s = spec(a_subscription(mailbox_count=2), mailboxes=boxes)
    assert len(s.mailboxes) == 9 and s.mailbox_allowance == 2


def test_the_transfer_auth_code_is_decrypted_and_hidden_from_the_repr():
    s = spec(a_subscription(domain_mode="transfer", auth_code_encrypted=b"epp"))
    assert s.auth_code == "plain:epp" and "plain:epp" not in repr(s)


def test_decrypt_is_not_called_when_nothing_is_encrypted():
    def must_not_run(token):
        raise AssertionError("nothing to decrypt")
    assert spec(decrypt=must_not_run).auth_code is None


def test_records_keep_their_name_type_content_and_ttl():
    s = spec(records=[{"name": "www", "type": "CNAME", "content": "example.com.", "ttl": 300}])
    assert [(r.name, r.type, r.content, r.ttl) for r in s.records] == [("www", "CNAME", "example.com.", 300)]


def test_the_cpanel_password_resets_count_is_carried():
    assert spec(a_subscription(cpanel_password_resets=3)).cpanel_password_resets == 3


def test_the_same_rows_make_an_equal_spec():
    assert spec() == spec()


def test_the_servers_own_host_key_is_pinned_before_any_configured_one():
    configured = dataclasses.replace(DEFAULTS, ssh_host_key="ssh-ed25519 AAAAC3configured")
    assert spec(defaults=configured).ssh_host_key == "ssh-ed25519 AAAAC3server3"
    assert spec(defaults=configured, server={**SERVER, "ssh_host_key": None}).ssh_host_key == \
        "ssh-ed25519 AAAAC3configured"


def test_a_server_whose_host_key_nobody_recorded_cannot_be_published_to():
    from stacks.spec import SpecError

    with pytest.raises(SpecError, match="no SSH host key is known for server 3"):
        spec(server={**SERVER, "ssh_host_key": None})


def test_the_publishing_key_never_shows_in_the_specs_repr():
    secret = dataclasses.replace(DEFAULTS, ssh_private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nsecret")
    assert "secret" not in repr(spec(defaults=secret))
