"""A job's end survives a dropped connection (app/jobs/ends.py): tried again on another
connection, and not again once the job is found no longer `doing`."""
from __future__ import annotations

import asyncio

import psycopg
import pytest
from procrastinate import exceptions

from app.jobs import ends


def run(coro):
    """On a loop of its own: asyncio.run would leave the main thread without a current loop,
    which the Pulumi mocks of later tests ask for."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def dropped() -> exceptions.ConnectorException:
    try:
        raise psycopg.OperationalError("terminating connection due to administrator command")
    except psycopg.OperationalError as cause:
        try:
            raise exceptions.ConnectorException() from cause
        except exceptions.ConnectorException as exc:
            return exc


class Manager:
    def __init__(self, failures: int, doing: bool = True):
        self.failures, self.doing, self.recorded, self.connector = failures, doing, 0, self

    async def execute_query_all_async(self, query, **args):
        return [{"?": 1}] if self.doing else []

    async def record(self):
        if self.failures:
            self.failures -= 1
            raise dropped()
        self.recorded += 1


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(ends, "FIRST_WAIT", 0.0)


def test_an_end_met_by_a_dropped_connection_is_recorded_on_the_next_try():
    manager = Manager(failures=2)
    run(ends.record_end(manager, 7, "end", manager.record))
    assert manager.recorded == 1


def test_an_end_whose_answer_was_lost_is_not_recorded_twice():
    manager = Manager(failures=1, doing=False)  # the first try was recorded; only its answer was lost
    run(ends.record_end(manager, 7, "end", manager.record))
    assert manager.recorded == 0


def test_an_error_of_the_statement_itself_is_not_retried():
    async def refused():
        try:
            raise psycopg.errors.RaiseException("Job was not found or not in doing status")
        except psycopg.Error as cause:
            raise exceptions.ConnectorException() from cause

    with pytest.raises(exceptions.ConnectorException):
        run(ends.record_end(Manager(0), 7, "end", refused))


def test_it_gives_up_after_a_few_tries():
    manager = Manager(failures=100)
    with pytest.raises(exceptions.ConnectorException):
        run(ends.record_end(manager, 7, "end", manager.record))
    assert manager.failures == 100 - ends.TRIES


def test_a_heartbeat_met_by_a_dropped_connection_is_skipped_not_fatal():
    async def beat():
        raise dropped()

    run(ends.beat_or_skip(beat, 7))  # no exception: the worker goes on


def test_the_app_job_manager_is_wrapped():
    import procrastinate

    from procrastinate import testing

    app = procrastinate.App(connector=testing.InMemoryConnector())
    ends.record_ends_despite_dropped_connections(app)
    assert app.job_manager.update_heartbeat.__name__ == "update_heartbeat"
    assert app.job_manager.finish_job_by_id_async.__qualname__.startswith("record_ends_despite")
