"""The login throttle against the real PostgreSQL, with the app in-process so each client can
come from its own address (over real HTTP every test client is 127.0.0.1; the per-address
part is proved here, through `environ_base`'s REMOTE_ADDR, which is what waitress sets)."""
from __future__ import annotations

import re
import secrets
import threading

import pytest

from app import create_app, db
from app.services.common import throttle
from app.services.operators import staff
from tests.factories import make_subscription

PASSWORD = "TestPassword123!"  # tests/factories.py's


@pytest.fixture
def app(settings):
    return create_app(settings, open_queue=False)


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def _customer_email(settings) -> str:
    with db.transaction(settings.DATABASE_URL) as conn:
        sub = make_subscription(conn, settings, status="pending_payment")
        return conn.execute("SELECT u.email FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
                            "JOIN users u ON u.id = c.user_id WHERE s.id = %s", (sub,)).fetchone()["email"]


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


def _log_in(client, email: str, password: str):
    return client.post("/login", data={"csrf": _csrf(client, "/login"), "email": email, "password": password})


def test_thirty_wrong_passwords_from_one_address_get_429_and_the_owner_still_logs_in_from_another(app, settings):
    email, guesser = _customer_email(settings), _from(app, "203.0.113.9")
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("DELETE FROM login_throttle WHERE key LIKE '%%203.0.113.9%%'")
    answers = [_log_in(guesser, email, f"guess number {i}") for i in range(30)]
    statuses = [a.status_code for a in answers]
    assert statuses[:throttle.RULES["pair"].free] == [401] * throttle.RULES["pair"].free
    assert set(statuses[throttle.RULES["pair"].free:]) == {429}
    refused = answers[-1]
    assert int(refused.headers["Retry-After"]) > 0 and "Too many attempts: try again in" in refused.text
    assert _log_in(guesser, email, PASSWORD).status_code == 429, "the guesser's address waits, right or wrong"

    owner = _from(app, _address())
    answer = _log_in(owner, email, PASSWORD)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(("/dashboard", "/welcome"))


def test_an_address_guessing_many_accounts_waits_but_each_owner_logs_in_from_home(app, settings):
    guesser_address, home = "203.0.113.77", _address()
    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("DELETE FROM login_throttle WHERE key LIKE '%%203.0.113.77%%'")
    emails = [_customer_email(settings) for _ in range(3)]
    assert _log_in(_from(app, home), emails[0], PASSWORD).status_code == 302  # a known address from now on
    guesser = _from(app, guesser_address)
    statuses = [_log_in(guesser, f"nobody{i}-{secrets.token_hex(3)}@example.com", "a guess").status_code
                for i in range(throttle.RULES["address"].free + 3)]
    assert statuses.count(401) == throttle.RULES["address"].free and statuses[-1] == 429
    assert _log_in(guesser, emails[1], PASSWORD).status_code == 429, "a new account from that address waits too"
    assert _log_in(_from(app, home), emails[0], PASSWORD).status_code == 302


def test_sixteen_parallel_staff_guesses_cannot_pass_the_limit(settings):
    email, password = f"owner-{secrets.token_hex(4)}@ops.example.net", None
    _, password = staff.add_staff(settings, email, "owner")
    address = _address()
    outcomes, start = [], threading.Barrier(16)

    def guess(i: int) -> None:
        start.wait()
        outcomes.append(staff.log_in(settings, email, f"wrong password {i}", "", address))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    checked = [o for o in outcomes if o.retry_after is None]
    assert len(outcomes) == 16 and len(checked) == throttle.RULES["pair"].free, [o.error for o in outcomes]
    assert all(o.token is None for o in outcomes)
    assert staff.log_in(settings, email, password, "", address).retry_after, "the address still waits"
    assert staff.log_in(settings, email, password, "", _address()).token, "the owner logs in from elsewhere"


def test_reset_requests_from_one_address_are_throttled(app, settings):
    client, email = _from(app, _address()), _customer_email(settings)
    answers = [client.post("/forgot", data={"csrf": _csrf(client, "/forgot"), "email": email})
               for _ in range(throttle.RULES["pair"].free + 1)]
    assert [a.status_code for a in answers[:-1]] == [200] * throttle.RULES["pair"].free
    assert answers[-1].status_code == 429 and "Retry-After" in answers[-1].headers
    assert "Too many attempts: try again in" in answers[-1].text
