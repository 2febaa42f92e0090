"""Rows a test needs, written by the same code the checkout uses (app.services.orders.orders)."""
from __future__ import annotations

import secrets

from app.services.orders.orders import Order, place_order


def unique_domain(prefix: str = "shop") -> str:
    return f"{prefix}-{secrets.token_hex(4)}.com"


def an_order(**changes) -> Order:
    values = dict(email=f"owner-{secrets.token_hex(4)}@example.net", first_name="Test", last_name="Owner",
                  password="TestPassword123!", plan_slug="shared_student", billing_cycle="monthly",
                  domain=unique_domain(), domain_mode="external")
    values.update(changes)
    return Order(**values)


def make_subscription(conn, settings, *, domain: str | None = None, mode: str = "external",
                      plan: str = "shared_student", status: str = "active", auth_code: str | None = None,
                      proven: bool = False) -> int:
    """A placed order moved to `status` (paid by default); returns the subscription id. With
    `proven`, the domain's control is proven (by TXT), so its mail and web are routed."""
    order = an_order(domain=domain or unique_domain(), domain_mode=mode, plan_slug=plan, auth_code=auth_code)
    placed = place_order(conn, settings, order)
    conn.execute("UPDATE subscriptions SET status = %s WHERE id = %s", (status, placed.subscription_id))
    if proven:
        conn.execute("UPDATE domains SET control_proven_at = now(), control_proven_by = 'txt' "
                     "WHERE subscription_id = %s", (placed.subscription_id,))
    return placed.subscription_id


def provisioned_outputs(domain: str) -> dict:
    """What a provisioned stack's outputs hold (the welcome email reads them), with fresh secrets."""
    return {"cpanel_url": "https://web1.migrahosting.com:2083", "cpanel_username": "u" + secrets.token_hex(3),
            "cpanel_password": "cp-" + secrets.token_urlsafe(12), "mailbox_address": f"admin@{domain}",
            "mailbox_password": "mb-" + secrets.token_urlsafe(12),
            "nameservers": ["ns1.migrahosting.com", "ns2.migrahosting.com"],
            "certificate_not_after": "2026-02-23T11:04:00Z", "server_ip": "192.0.2.10", "domain": domain,
            "registration_status": "external"}


def suspended_with_stripe_update(conn, settings, tag: str) -> tuple[int, str, dict]:
    """A suspended subscription with a Stripe id (`sub_<tag>_<sid>`) and a recorded, unprocessed
    customer.subscription.updated event for it: (subscription id, Stripe id, event)."""
    from app.services.orders import lifecycle

    sid = make_subscription(conn, settings, status="suspended")
    stripe_id = f"sub_{tag}_{sid}"
    conn.execute("UPDATE subscriptions SET stripe_subscription_id = %s WHERE id = %s", (stripe_id, sid))
    event = {"id": f"evt_{tag}_{secrets.token_hex(6)}", "type": "customer.subscription.updated", "created": 0,
             "data": {"object": {"id": stripe_id, "metadata": {}}}}
    lifecycle.record_event(settings, event)
    return sid, stripe_id, event
