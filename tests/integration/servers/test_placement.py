"""Placement against the real PostgreSQL: by group, by capacity, concurrently, and waiting.

Each test works in a server group of its own (and a plan naming it), so the servers it
registers never receive another test's orders; its orders are terminated at the end.
"""
from __future__ import annotations

import secrets
import threading

import pytest

from app import db
from app.services.hosting import placement, servers
from tests.factories import make_subscription

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlacementTestKeyOnlyNeverDialled"


@pytest.fixture
def group(db_conn, settings):
    """A server group with a plan of its own; cleaned up afterwards."""
    name = f"t-{secrets.token_hex(4)}"
    db_conn.execute("INSERT INTO server_groups (name) VALUES (%s)", (name,))
    db_conn.execute(
        "INSERT INTO plans (slug, name, whm_package, disk_quota_mb, bandwidth_mb, mailbox_count, "
        "price_monthly_cents, price_yearly_cents, server_group) "
        "VALUES (%s, 'Placement test', 'mpanel_student', 1000, 10000, 1, 100, 1000, %s)", (name, name))
    made: list[int] = []
    yield {"name": name, "plan": name, "orders": made}
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE args->>'subscription_id' = ANY(%s)",
                     ([str(sid) for sid in made],))
        conn.execute("UPDATE subscriptions SET status = 'terminated', waiting_for_capacity_since = NULL, "
                     "needs_attention_since = NULL, server_id = NULL WHERE id = ANY(%s)", (made,))
        conn.execute("UPDATE plans SET active = false WHERE slug = %s", (name,))
        conn.execute("DELETE FROM account_moves WHERE subscription_id = ANY(%s)", (made,))
        conn.execute("DELETE FROM servers WHERE server_group = %s", (name,))


def add(settings, group, label, capacity, **more) -> int:
    return servers.add_server(settings, servers.ServerInput(
        name=f"{group['name']}-{label}", hostname=f"{label}.{group['name']}.example.net", ip_address="192.0.2.50",
        whm_url=f"http://127.0.0.1:9/{label}", whm_token="T" * 32, ssh_host_key=HOST_KEY, capacity=capacity,
        server_group=group["name"], **more))


def orders(db_conn, settings, group, n) -> list[int]:
    """n paid orders of the group's plan: one made by the checkout's own code, the others its
    copies (placement reads only the plan and the status; hashing 20 passwords would be slow)."""
    first = make_subscription(db_conn, settings, plan=group["plan"])
    made = [first] + [r["id"] for r in db_conn.execute(
        "INSERT INTO subscriptions (customer_id, plan_id, billing_cycle, status) "
        "SELECT customer_id, plan_id, billing_cycle, status FROM subscriptions, generate_series(2, %s) "
        "WHERE id = %s RETURNING id", (n, first)).fetchall()]
    group["orders"].extend(made)
    return made


def place(settings, sid):
    with db.transaction(settings.DATABASE_URL) as conn:
        return placement.place(conn, sid, settings.DEFAULT_WEB_SERVER_ID)


def test_twenty_concurrent_placements_into_room_for_fifteen_then_the_rest_when_a_server_is_added(
        db_conn, settings, group):
    big, small = add(settings, group, "big", 10), add(settings, group, "small", 5)
    sids = orders(db_conn, settings, group, 20)
    start, results, errors = threading.Barrier(20), {}, []

    def one(sid):
        try:
            start.wait(timeout=30)
            results[sid] = place(settings, sid)
        except Exception as exc:  # the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(sid,)) for sid in sids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    placed = [sid for sid, server in results.items() if server is not None]
    waiting = [sid for sid, server in results.items() if server is None]
    assert (len(placed), len(waiting)) == (15, 5)
    counts = {r["id"]: r["accounts"] for r in servers.list_servers(settings) if r["server_group"] == group["name"]}
    assert counts == {big: 10, small: 5}

    rows = db_conn.execute("SELECT id, server_id, waiting_for_capacity_since, needs_attention_since, "
                           "provisioning_error FROM subscriptions WHERE id = ANY(%s)", (waiting,)).fetchall()
    assert all(r["server_id"] is None and r["waiting_for_capacity_since"] and r["needs_attention_since"]
               and "waiting for capacity" in r["provisioning_error"] for r in rows)
    alerts = db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                             "AND args->>'subscription_id' = ANY(%s)", ([str(s) for s in waiting],)).fetchone()
    assert alerts["n"] == 5
    # Asked again, a waiting order stays waiting and the operators are not told twice.
    assert place(settings, waiting[0]) is None
    assert db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'send_attention_alert' "
                           "AND args->>'subscription_id' = %s", (str(waiting[0]),)).fetchone()["n"] == 1

    spare = add(settings, group, "spare", 5)
    assert placement.place_waiting_orders(settings) >= 5
    after = db_conn.execute("SELECT id, server_id, waiting_for_capacity_since, provisioning_error FROM subscriptions "
                            "WHERE id = ANY(%s)", (waiting,)).fetchall()
    assert {r["server_id"] for r in after} == {spare}
    assert all(r["waiting_for_capacity_since"] is None and r["provisioning_error"] is None for r in after)
    converges = db_conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'converge_subscription' "
                                "AND args->>'subscription_id' = ANY(%s)", ([str(s) for s in waiting],)).fetchone()
    assert converges["n"] == 5
    # Placement is once: a placed order keeps its server whatever the loads say now.
    assert place(settings, placed[0]) == results[placed[0]]


def test_a_drained_server_receives_nothing_new_and_enabled_it_does_again(db_conn, settings, group):
    drained, other = add(settings, group, "drained", 50), add(settings, group, "other", 50)
    servers.set_state(settings, str(drained), "draining")
    first = orders(db_conn, settings, group, 4)
    assert [place(settings, sid) for sid in first] == [other] * 4
    servers.set_state(settings, f"{group['name']}-drained", "active")  # by name
    assert place(settings, orders(db_conn, settings, group, 1)[0]) == drained  # least loaded again


def test_a_group_whose_servers_are_all_draining_waits_rather_than_falling_back(db_conn, settings, group):
    only = add(settings, group, "only", 50)
    servers.set_state(settings, str(only), "draining")
    [sid] = orders(db_conn, settings, group, 1)
    assert place(settings, sid) is None


def test_the_plans_disk_quota_counts_against_the_servers_disk_capacity(db_conn, settings, group):
    # The test plan's quota is 1,000 MB: a server of 2,500 MB takes two such accounts.
    roomy_in_accounts = add(settings, group, "disk", 100, disk_capacity_mb=2500)
    sids = orders(db_conn, settings, group, 3)
    assert [place(settings, sid) for sid in sids] == [roomy_in_accounts, roomy_in_accounts, None]


def test_fill_first_fills_one_server_before_the_next(db_conn, settings, group):
    first = add(settings, group, "first", 2, fill_strategy="fill_first")
    second = add(settings, group, "second", 2)
    sids = orders(db_conn, settings, group, 4)
    assert [place(settings, sid) for sid in sids] == [first, first, second, second]


def test_retiring_a_server_with_accounts_is_refused(db_conn, settings, group):
    busy = add(settings, group, "busy", 5)
    place(settings, orders(db_conn, settings, group, 1)[0])
    with pytest.raises(servers.ServerRefused, match="move them first"):
        servers.set_state(settings, str(busy), "retired")


def test_a_draining_server_with_a_pace_has_that_many_accounts_moved_per_hour(db_conn, settings, group):
    from app.services.hosting.moves import move_off_draining_servers

    old = add(settings, group, "old", 10)
    sids = orders(db_conn, settings, group, 3)
    assert [place(settings, sid) for sid in sids] == [old] * 3
    domain_id = db_conn.execute("SELECT id FROM domains WHERE subscription_id = %s", (sids[0],)).fetchone()["id"]
    db_conn.execute("INSERT INTO websites (subscription_id, domain_id, cpanel_username) "
                    "SELECT id, %s, 'u' || id FROM subscriptions WHERE id = ANY(%s)", (domain_id, sids))
    new = add(settings, group, "new", 10, archive_dir="/home")
    add(settings, group, "cannot-restore", 10)  # no archive directory: never a move's target
    servers.set_state(settings, str(old), "draining")
    assert move_off_draining_servers(settings) == 0  # no pace: draining only stops new placements

    servers.update_server(settings, str(old), servers.ServerInput(drain_moves_per_hour=2))
    assert move_off_draining_servers(settings) == 2
    assert move_off_draining_servers(settings) == 0  # this hour's two are requested
    moved = db_conn.execute("SELECT subscription_id, from_server_id, to_server_id, state FROM account_moves "
                            "WHERE subscription_id = ANY(%s) ORDER BY subscription_id", (sids,)).fetchall()
    assert [(m["subscription_id"], m["from_server_id"], m["to_server_id"], m["state"]) for m in moved] == \
        [(sids[0], old, new, "requested"), (sids[1], old, new, "requested")]
    # A move holds its place on the target from the request on.
    [loaded] = [r for r in servers.list_servers(settings) if r["id"] == new]
    assert loaded["accounts"] == 2
