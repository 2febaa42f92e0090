"""How an imported account is billed: `external` (billed elsewhere, never suspended for billing by
mpanel) or `stripe:<subscription id>`, the Stripe subscription another system already bills the
customer with, linked so that its renewals, failures and cancellations follow as for any order.

A Stripe subscription is linked only when, read from Stripe before anything is written:

- it exists and is active, trialing or past due (one canceled or never paid bills nobody);
- it bills exactly one of a plan's Stripe prices, once (as our own checkout does: the price is
  found as a webhook finds it, `plans.stripe_price_monthly/yearly`), and that plan is the
  account's (another plan would change the package at the first Stripe event);
- no other subscription of ours holds it (the webhook finds an order by this id alone).

The link is written as a paid checkout leaves it: the Stripe subscription and customer ids on
the order, its status, period and plan applied by the lifecycle itself
(`lifecycle.apply_stripe_subscription`), so nothing here decides what a status means.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
import stripe

from app import db
from app.db.operators import imports as rows
from app.services.common.refusals import Refused
from app.services.orders import billing, lifecycle
from app.services.orders import lifecycle_rules as rules
from app.services.orders.lifecycle_rules import stripe_value
from app.settings import Settings

EXTERNAL = "external"
STRIPE_PREFIX = "stripe:"
# Stripe statuses a linked subscription may have: it bills the customer now (STRIPE_PAYING), or
# owes a renewal the dunning then follows.
LINKABLE = (*rules.STRIPE_PAYING, "past_due")


@dataclass(frozen=True)
class StripeLink:
    """What Stripe and our rows say about the subscription `--billing stripe:<id>` names."""

    stripe_subscription_id: str
    remote: Any = None              # Stripe's object; None when Stripe has no such subscription
    plan: dict | None = None        # the plan whose Stripe price it bills
    held_by: int | None = None      # our subscription already holding it

    @property
    def found(self) -> bool:
        return self.remote is not None

    @property
    def items(self) -> list:
        return list(stripe_value(self.remote, "items", "data") or [])

    @property
    def cycle(self) -> str:
        return rules.billing_cycle_of(self.plan, self.price_id) if self.plan else "monthly"

    @property
    def price_id(self) -> str | None:
        return rules.read_stripe_subscription(self.remote).price_id if self.found else None


def stripe_subscription_id(billing_choice: str) -> str | None:
    """The Stripe subscription id `--billing stripe:<id>` names; None for `external`."""
    return billing_choice.removeprefix(STRIPE_PREFIX) if billing_choice.startswith(STRIPE_PREFIX) else None


def read_link(settings: Settings, billing_choice: str) -> StripeLink | None:
    """Read Stripe first (no transaction open), then our rows; None for `external` billing.
    A Stripe that cannot be read refuses the import (502): nothing is guessed."""
    sid = stripe_subscription_id(billing_choice)
    if sid is None:
        return None
    try:
        remote = billing.retrieve_subscription(settings, sid)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise Refused("billing", f"--billing {billing_choice}: Stripe refused the read: "
                                     f"{exc.user_message or exc}", status=502) from exc
        remote = None
    except (stripe.StripeError, billing.PaymentServiceError) as exc:
        raise Refused("billing", f"--billing {billing_choice}: Stripe could not be read: {exc}", status=502) from exc
    with db.transaction(settings.DATABASE_URL) as conn:
        held_by = rows.holder_of_stripe_subscription(conn, sid)
        if remote is None:
            return StripeLink(sid, held_by=held_by)
        price = rules.read_stripe_subscription(remote).price_id
        return StripeLink(sid, remote, billing.plan_for_price(conn, price) if price else None, held_by)


def problems(billing_choice: str, link: StripeLink | None, plan: dict | None) -> list[str]:
    """Why the billing cannot be linked as given (`plan`: the account's plan, when known); each
    problem names `--billing`."""
    said = f"--billing {billing_choice}"
    if link is None:
        return []
    if link.held_by is not None:
        return [f"{said}: the Stripe subscription already bills sub-{link.held_by}"]
    if not link.found:
        return [f"{said}: Stripe has no subscription {link.stripe_subscription_id}"]
    found: list[str] = []
    status = stripe_value(link.remote, "status")
    if status not in LINKABLE:
        found.append(f"{said}: the Stripe subscription is {status}; only an active, trialing or past-due one "
                     "can be linked")
    items = link.items
    if len(items) != 1 or int(stripe_value(items[0], "quantity", default=1)) != 1:
        found.append(f"{said}: the Stripe subscription bills {len(items)} item(s); an order is one plan's price, once")
    elif link.plan is None:
        found.append(f"{said}: its price {link.price_id} is no plan's Stripe price (plans.stripe_price_monthly/"
                     "yearly): record it on the plan it sells, or move the subscription to a plan's price")
    elif plan is not None and link.plan["id"] != plan["id"]:
        found.append(f"{said}: its price is the plan {link.plan['slug']}'s, the account is on {plan['slug']} "
                     f"(package {plan['whm_package']}): the first renewal would change the package")
    return found


def link(conn: psycopg.Connection, settings: Settings, subscription_id: int, found: StripeLink,
         outcome: lifecycle.Outcome) -> None:
    """Make the imported order agree with its Stripe subscription, in the caller's transaction,
    as the webhook would (ids, status, period, plan); what that implies goes into `outcome`."""
    lifecycle.apply_stripe_subscription(conn, settings, rows.lock_subscription(conn, subscription_id), found.remote,
                                        outcome)
