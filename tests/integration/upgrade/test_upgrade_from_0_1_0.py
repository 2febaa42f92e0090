"""An upgrade on the real engine and servers: a subscription provisioned by release 0.1.0 (5cdc660,
where stacks stored provider class paths and the starter page was a dynamic resource), then this
release's `mpanel stacks migrate`, preview, converge, suspension and destroy, with the customer's
own index.html untouched throughout."""
from __future__ import annotations

import dataclasses
import json
import os
import pickletools
import base64
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from tests.factories import make_subscription, unique_domain
from tests.site_shell import over_ssh

RELEASE_0_1_0 = "5cdc66060eb51bcdb5005d1e7ee27cb307caff3a"
CUSTOMERS_PAGE = "<h1>my own shop, edited by hand</h1>\n"
SECRET_SIG = "4dabf18193072939515e22adb298388d"




def whm_account(settings, domain: str) -> dict | None:
    r = requests.get(f"{settings.CPANEL_WHM_URL}/json-api/listaccts",
                     params={"api.version": 1, "search": domain, "searchtype": "domain", "searchmethod": "exact"},
                     headers={"Authorization": f"whm {settings.CPANEL_WHM_USERNAME}:{settings.CPANEL_WHM_API_TOKEN}"},
                     timeout=10)
    r.raise_for_status()
    found = (r.json().get("data") or {}).get("acct") or []
    return found[0] if found else None


def stored_names(deployment: dict) -> set[tuple[str, str]]:
    """Every (module, name) the state's pickled providers make the loader import."""
    names = set()
    for r in deployment["resources"]:
        text = r.get("inputs", {}).get("__provider")
        if text is None:
            continue
        if isinstance(text, dict) and SECRET_SIG in text:
            text = json.loads(text["plaintext"])
        strings = []
        for op, arg, _ in pickletools.genops(base64.b64decode(text)):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif op.name == "STACK_GLOBAL":
                names.add((strings[-2], strings[-1]))
    return names


def types(deployment: dict) -> dict[str, str]:
    return {r["urn"].rpartition("::")[2]: r["type"] for r in deployment["resources"]}


def destructive(recorder) -> list[tuple[str, str]]:
    from stacks.migration import DESTRUCTIVE

    return [(s["resource_name"], s["op"]) for s in recorder.steps
            if s.get("op") in DESTRUCTIVE or (s.get("op") == "create")]


def test_a_subscription_provisioned_by_0_1_0_migrates_converges_suspends_and_is_destroyed(
        settings, release_worktree, capsys):
    from app.cli import main as mpanel
    from app.services.hosting.converge import Converger
    from app.services.hosting.engine import stack_operations
    from app.services.hosting.specs import build_spec
    from stacks.events import StepRecorder

    conn = psycopg.connect(settings.DATABASE_URL, row_factory=dict_row, autocommit=True)
    domain = unique_domain("upgrade")
    sid = make_subscription(conn, settings, domain=domain)
    spec = build_spec(conn, sid, settings)
    conn.execute("UPDATE subscriptions SET activated_at = now() WHERE id = %s", (sid,))

    # 1. Release 0.1.0 provisions the subscription with its own code.
    tree = release_worktree(RELEASE_0_1_0)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    ran = subprocess.run([sys.executable, str(Path(__file__).with_name("old_release.py")),
                          json.dumps(dataclasses.asdict(spec), default=str)],
                         cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and '"result": "succeeded"' in ran.stdout, ran.stdout[-3000:] + ran.stderr[-3000:]
    ops = stack_operations(settings)
    recorded = ops.export(sid)
    assert ("providers.site", "StarterPageProvider") in stored_names(recorded)
    assert ("providers.base", "RetryPolicy") in stored_names(recorded)
    assert types(recorded)["starter-page"] == "pulumi-python:dynamic:Resource"

    account = whm_account(settings, domain)
    page = f"{settings.SITES_HOME_ROOT}/{account['user']}/public_html/index.html"
    assert domain in over_ssh(settings, f"cat {page}").stdout  # 0.1.0 published the starter page
    assert over_ssh(settings, f"printf %s '{CUSTOMERS_PAGE}' > {page}").returncode == 0

    # 2. The upgrade step: a dry run first changes nothing.
    capsys.readouterr()
    assert mpanel(["stacks", "migrate", "--dry-run", f"sub-{sid}"]) == 0
    assert f"sub-{sid}: would migrate" in capsys.readouterr().out
    assert ops.export(sid)["resources"] == recorded["resources"]
    assert mpanel(["stacks", "migrate", f"sub-{sid}"]) == 0
    said = capsys.readouterr().out
    assert f"sub-{sid}: migrated" in said and "starter-page" in said, said
    migrated = ops.export(sid)
    assert {module for module, _ in stored_names(migrated)} == {"providers.stored"}
    assert types(migrated)["starter-page"] == "command:remote:Command"
    assert "default_1_2_1" in types(migrated)  # the stack had no command provider: one was added
    assert over_ssh(settings, f"cat {page}").stdout == CUSTOMERS_PAGE

    assert mpanel(["stacks", "migrate", f"sub-{sid}"]) == 0  # a second run changes nothing
    assert f"sub-{sid}: current" in capsys.readouterr().out
    assert ops.export(sid)["resources"] == migrated["resources"]

    # 3. A preview of this release's program: nothing replaced, deleted or created.
    preview = StepRecorder()
    ops.preview(build_spec(conn, sid, settings), preview)
    assert destructive(preview) == [], preview.steps

    # 4. Converge, suspend, destroy with this release; the customer's page stays theirs.
    converger = Converger(settings)
    assert converger.converge(sid) == "up"
    assert over_ssh(settings, f"cat {page}").stdout == CUSTOMERS_PAGE
    run = conn.execute("SELECT summary FROM provisioning_runs WHERE subscription_id = %s AND operation = 'up' "
                       "ORDER BY id DESC LIMIT 1", (sid,)).fetchone()
    assert not run["summary"].get("create") and not run["summary"].get("replace") \
        and not run["summary"].get("delete"), run["summary"]

    conn.execute("UPDATE subscriptions SET status = 'suspended' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "up"
    assert int(whm_account(settings, domain)["suspended"]) == 1
    assert over_ssh(settings, f"cat {page}").stdout == CUSTOMERS_PAGE

    conn.execute("UPDATE subscriptions SET status = 'terminated' WHERE id = %s", (sid,))
    assert converger.converge(sid) == "destroyed"
    assert whm_account(settings, domain) is None
    assert not ops.exists(sid)
    conn.close()
