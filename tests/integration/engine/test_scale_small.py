"""`mpanel bench scale`, seeded small: two real stacks built and drift-checked two at a time,
with every figure the full run prints (the 1,000-stack run is a command, README Capacity)."""
from __future__ import annotations

import re

from app.devtools.bench import scale


def test_a_small_scale_run_builds_checks_and_measures(settings, capsys):
    assert scale.run(2, 1, concurrency=2) == 0
    out = capsys.readouterr().out
    assert "built 2/2" in out and "drift-checked 2/2" in out
    assert "drift found on 0" in out  # freshly built stacks match what is upstream
    for figure in ("`stacks list` query", "console: attention queue", "`pulumi stack ls --all`",
                   "memory (peak RSS)", "PostgreSQL: pulumi_state", "extrapolated to 1000 stacks"):
        assert figure in out, figure
    own_rows = int(re.search(r"these 2 stacks' own rows: (\d+) rows", out).group(1))
    assert own_rows >= 2  # each stack's checkpoint and history are in the backend
