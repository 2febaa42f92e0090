"""The console tells an account billed elsewhere (imported with `--billing external`) from one
Stripe bills, on the subscription list and its page, in a real browser (Playwright with Debian's
Chromium), photographed at a desktop width and at 768 px and checked with axe-core."""
from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.e2e.test_ops_console import CHROMIUM, a_staff, log_in
from tests.e2e.test_ops_console_manage import browser, looked_at, page, shots  # noqa: F401  (fixtures)
from tests.factories import make_subscription

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def two_orders(settings):
    """An imported order billed elsewhere and a plain one, both provisioned (so no sweep builds
    them); ended afterwards."""
    with psycopg.connect(settings.DATABASE_URL, row_factory=dict_row, autocommit=True) as conn:
        elsewhere, by_stripe = (make_subscription(conn, settings) for _ in range(2))
        conn.execute("UPDATE subscriptions SET provisioning_status = 'ready', billed_externally = (id = %s), "
                     "imported_at = CASE WHEN id = %s THEN now() END WHERE id = ANY(%s)",
                     (elsewhere, elsewhere, [elsewhere, by_stripe]))
        domains = {r["subscription_id"]: r["name"] for r in conn.execute(
            "SELECT subscription_id, name FROM domains WHERE subscription_id = ANY(%s)", ([elsewhere, by_stripe],))}
        yield elsewhere, by_stripe, domains
        conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed' "
                     "WHERE id = ANY(%s)", ([elsewhere, by_stripe],))


def test_an_account_billed_elsewhere_says_so_on_the_list_and_its_page(mpanel, settings, page, shots, two_orders):
    elsewhere, by_stripe, domains = two_orders
    email, password = a_staff(settings, "support")
    log_in(page, mpanel, email, password)

    page.goto(f"{mpanel.url}/ops/subscriptions")
    rows = {sid: page.inner_text(f"#results tr:has(a[href$='/ops/subscriptions/{sid}'])")
            for sid in (elsewhere, by_stripe)}
    assert "billed elsewhere" in rows[elsewhere] and domains[elsewhere] in rows[elsewhere]
    assert "billed elsewhere" not in rows[by_stripe]
    looked_at(page, shots, "subscriptions-billed-elsewhere")

    page.goto(f"{mpanel.url}/ops/subscriptions/{elsewhere}")
    billed = page.inner_text("#billed-elsewhere")
    assert "billed elsewhere" in billed and "never suspends it for billing" in billed
    looked_at(page, shots, "subscription-billed-elsewhere")
    page.goto(f"{mpanel.url}/ops/subscriptions/{by_stripe}")
    assert page.locator("#billed-elsewhere").count() == 0
