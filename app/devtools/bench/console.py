"""`mpanel bench console`: the operators' console with 10,000 subscriptions and 100,000 runs.

Fills the database with marked rows, asks every console page `n` times through the app (in
process: the server's own time, no network), prints median and p95 per page, then removes the
rows. The target (issue 11): every page under 100 ms median.
"""
from __future__ import annotations

import re
import secrets
import statistics
import time

from app import db
from app.devtools.bench import console_rows as rows
from app.services.operators import staff
from app.settings import Settings

SUBSCRIPTIONS, RUNS_EACH = 10_000, 10


def _login(client, email: str, password: str) -> None:
    form = client.get("/ops/login").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = client.post("/ops/login", data={"csrf": token, "email": email, "password": password})
    assert answer.status_code == 302, answer.status_code


def run(n: int, subscriptions: int = SUBSCRIPTIONS, runs_each: int = RUNS_EACH) -> int:
    from app import create_app

    settings = Settings.from_env()
    tag = secrets.token_hex(3)
    started = time.perf_counter()
    with db.transaction(settings.DATABASE_URL) as conn:
        ids = rows.seed(conn, tag, subscriptions, runs_each)
    print(f"console benchmark: {len(ids)} subscriptions and {len(ids) * runs_each} runs added in "
          f"{time.perf_counter() - started:.1f} s (tag {tag}); {n} requests per page")
    email = f"bench-console-{tag}@bench.invalid"
    try:
        _, password = staff.add_staff(settings, email, "owner")
        client = create_app(settings, open_queue=False).test_client()
        _login(client, email, password)
        middle = ids[len(ids) // 2]
        pages = {
            "overview": "/ops/",
            "subscriptions, first page": "/ops/subscriptions",
            "subscriptions, a later page": f"/ops/subscriptions?before={middle}",
            "search by domain prefix": f"/ops/subscriptions?q=bench-console-{tag}-{middle}",
            "search by email prefix": f"/ops/subscriptions?q=bench-console-{tag}-77@",
            "search by Stripe id": f"/ops/subscriptions?q=sub_bench_{tag}_{middle}",
            "filter past_due + failed": "/ops/subscriptions?status=past_due&stack=failed",
            "filter needs attention": "/ops/subscriptions?attention=1",
            "one subscription": f"/ops/subscriptions/{middle}",
            "live progress poll": f"/ops/subscriptions/{middle}/live.json?since=0",
            "audit log": "/ops/audit",
        }
        print(f"{'page':32} {'median':>9} {'p95':>9}")
        worst = 0.0
        for label, path in pages.items():
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                answer = client.get(path)
                times.append(time.perf_counter() - t0)
                assert answer.status_code == 200, (path, answer.status_code)
            times.sort()
            median, p95 = statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            worst = max(worst, median)
            print(f"{label:32} {median * 1000:7.1f} ms {p95 * 1000:7.1f} ms")
        print(f"slowest median {worst * 1000:.1f} ms (target: under 100 ms)")
        return 0 if worst < 0.1 else 1
    finally:
        staff.set_status(settings, email, "disabled")
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.remove(conn, ids)
