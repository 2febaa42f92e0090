"""Fixtures shared with the other transaction tests."""
from tests.integration.db.test_requests_in_transaction import jobs  # noqa: F401  (fixture: the jobs a test created)
