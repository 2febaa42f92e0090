"""The customer's own DNS records (desired state: applied to the zone by the next converge)."""
from __future__ import annotations

import psycopg


def editable_site(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """The active, built site whose zone we serve (whose it is: app/services/customers/sites.py):
    id, domain, domain_id, the plan's record limit."""
    return conn.execute(
        """SELECT s.id, d.id AS domain_id, d.name AS domain, p.dns_record_limit, p.name AS plan
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
             JOIN websites w ON w.subscription_id = s.id AND w.status = 'active'
            WHERE s.id = %s AND s.status = 'active'""", (subscription_id,)).fetchone()


def site(conn: psycopg.Connection, subscription_id: int) -> dict | None:
    """A live order with its domain (to show the editor, read-only when not active)."""
    return conn.execute(
        """SELECT s.id, s.status, d.id AS domain_id, d.name AS domain, p.dns_record_limit, p.name AS plan,
                  w.status AS website_status
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id
             JOIN domains d ON d.subscription_id = s.id AND d.status <> 'released'
             LEFT JOIN websites w ON w.subscription_id = s.id
            WHERE s.id = %s AND s.status <> 'abandoned'""", (subscription_id,)).fetchone()


def records(conn: psycopg.Connection, domain_id: int) -> list[dict]:
    return conn.execute("SELECT id, name, type, content, ttl, quarantined_reason FROM dns_records "
                        "WHERE domain_id = %s ORDER BY name, type, content", (domain_id,)).fetchall()


def insert(conn: psycopg.Connection, domain_id: int, record: dict) -> bool:
    """False when the same record exists already."""
    return conn.execute(
        "INSERT INTO dns_records (domain_id, name, type, content, ttl) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT (domain_id, name, type, content) DO NOTHING RETURNING id",
        (domain_id, record["name"], record["type"], record["content"], record["ttl"])).fetchone() is not None


def set_rrset_ttl(conn: psycopg.Connection, domain_id: int, name: str, rtype: str, ttl: int) -> None:
    """DNS keeps one ttl per rrset: a record added with a new ttl moves its siblings to it."""
    conn.execute("UPDATE dns_records SET ttl = %s WHERE domain_id = %s AND name = %s AND type = %s",
                 (ttl, domain_id, name, rtype))


def delete(conn: psycopg.Connection, domain_id: int, record_id: int) -> dict | None:
    return conn.execute("DELETE FROM dns_records WHERE domain_id = %s AND id = %s RETURNING name, type, content",
                        (domain_id, record_id)).fetchone()


def delete_all(conn: psycopg.Connection, domain_id: int) -> int:
    return len(conn.execute("DELETE FROM dns_records WHERE domain_id = %s RETURNING id", (domain_id,)).fetchall())
