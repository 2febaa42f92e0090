"""Each stand-in keeps its state across a restart, and a reset empties it for good."""

from __future__ import annotations

import pytest
import requests

from sandbox.common.bench import BENCHES, served

# The table each stand-in's template object lands in.
TABLE = {"stripe": "customer", "whm": "accounts", "namesilo": "domains"}


def stored(url: str, table: str) -> dict:
    return requests.get(f"{url}/_sandbox/state", timeout=10).json()["state"][table]


@pytest.mark.parametrize("name", sorted(BENCHES))
def test_a_restarted_stand_in_keeps_its_objects_and_a_reset_empties_it_for_good(name, tmp_path):
    bench = BENCHES[name]()
    with served(bench, tmp_path) as url:
        bench.template(requests.Session(), url)
        before = stored(url, TABLE[name])
    assert len(before) == 1

    with served(bench, tmp_path) as url:
        assert stored(url, TABLE[name]) == before
        assert requests.post(f"{url}/_sandbox/reset", timeout=10).status_code == 200
        assert stored(url, TABLE[name]) == {}

    with served(bench, tmp_path) as url:
        assert stored(url, TABLE[name]) == {}
        # Still a working stand-in after the reset: the seeded state came back with it.
        bench.template(requests.Session(), url)
        assert len(stored(url, TABLE[name])) == 1
