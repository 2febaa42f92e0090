"""Fixtures shared with the other transaction tests."""
import pytest

from tests.integration.db.test_requests_in_transaction import jobs  # noqa: F401  (fixture: the jobs a test created)


@pytest.fixture
def nothing_left_to_build(db_conn):
    """Orders a test made or activated are ended afterwards: otherwise the worker's straggler sweep
    (active, never provisioned) would build them, or remind someone, during a later end-to-end run.
    Modules ask for it with `pytestmark = pytest.mark.usefixtures("nothing_left_to_build")`."""
    marker = db_conn.execute("SELECT coalesce(max(id), 0) AS id FROM subscriptions").fetchone()["id"]
    yield
    db_conn.execute("UPDATE subscriptions SET status = 'terminated', provisioning_status = 'destroyed' "
                    "WHERE id > %s AND status <> 'pending_payment'", (marker,))
