"""Moving a hosting account to another web server (`mpanel servers move SUBSCRIPTION --to SERVER`).

The request is desired state (a row in account_moves, and a converge requested); the worker
carries it out at the subscription's next converge, in steps that each leave a working copy:

1. copy: WHM's own backup on the source (pkgacct: the home and the databases; mpanel keeps it
   with the domain's mail), the archive carried from the source's SSH to the target's, restored
   there by WHM (start_local_cpmove_restore), then verified: the target's account has the domain,
   its home the same files, with the same sizes, as the source's, and the same MySQL databases
   with the same database users (WHM's list_mysql_databases_and_users on both: cPanel's restore
   carries on past a database that failed to import). The source keeps serving throughout.
2. switch: the subscription's server becomes the target and the engine converges the stack:
   the WHM account (same name, now the target's), its certificate installed there, the zone's
   A records at the target's address. Until this run succeeds DNS still names the source, which
   still holds the account.
3. remove the source account (and both archives).

A failure in step 1 removes the target's unfinished copy, marks the move failed and flags the
subscription for the operators (emailed once); the source was never touched. A failure in step
2 puts the subscription back on the source and raises, so the retried converge points
everything back at the source (the target's copy is left for the operator, named in the flag).
A failure in step 3 leaves both copies, the stack on the target, and is retried by the next
converge. Moves need the deploy login (SITES_SSH_USER) to be able to read and write archives on
both servers (root on a cPanel server).
"""
from __future__ import annotations

import logging
from typing import Callable

from app import db
from app.db.hosting import moves as rows
from app.db.hosting import servers as server_rows
from app.db.hosting import subscriptions
from app.jobs.defer import request_attention_alert, request_converge
from app.services.hosting.account_backups import back_up_account
from app.services.hosting.engine import whm_client
from app.services.hosting.placement import choose, has_room
from app.services.hosting.server_shell import Shell, carry, files_of
from app.services.hosting.servers import ServerRefused
from app.settings import Settings
from providers.core.errors import NotFound, ProviderError

log = logging.getLogger("mpanel.moves")

class MoveFailed(RuntimeError):
    pass


def request_move(settings: Settings, subscription_id: int, to_ref: str) -> int:
    """Record the move and ask the worker for it; ServerRefused (naming the field) when it cannot be."""
    with db.transaction(settings.DATABASE_URL) as conn:
        account = rows.account(conn, subscription_id)
        if account is None:
            raise ServerRefused("subscription", f"no subscription {subscription_id}")
        if account["status"] in ("terminated", "abandoned", "pending_payment") or not account["cpanel_username"]:
            raise ServerRefused("subscription", f"subscription {subscription_id} has no hosting account to move")
        if rows.open_move(conn, subscription_id) is not None:
            raise ServerRefused("subscription", f"subscription {subscription_id} is already being moved")
        target = (server_rows.by_id(conn, int(to_ref)) if str(to_ref).isdigit()
                  else server_rows.by_name(conn, str(to_ref)))
        if target is None or target["role"] != "web":
            raise ServerRefused("to", f"no web server {to_ref}")
        if target["id"] == account["server_id"]:
            raise ServerRefused("to", f"the account is already on {target['hostname']}")
        [loaded] = server_rows.with_load(conn, target["id"])
        if not has_room(loaded, 0):
            raise ServerRefused("to", f"{loaded['name']} is not active or has no room")
        if not target["archive_dir"]:
            raise ServerRefused("to", f"{loaded['name']} has no archive directory (mpanel servers update "
                                      "--archive-dir): WHM restores the copy from there")
        move_id = rows.request(conn, subscription_id, account["server_id"], target["id"])
        request_converge(conn, subscription_id)
        return move_id


def carry_out(settings: Settings, subscription_id: int, up: Callable[[], str]) -> str | None:
    """The open move's remaining steps; None when there is none (the converge goes on as usual).
    `up` converges the stack as it is desired now (app/services/hosting/converge.py)."""
    with db.transaction(settings.DATABASE_URL) as conn:
        move = rows.open_move(conn, subscription_id)
        account = rows.account(conn, subscription_id) if move else None
        servers = {i: server_rows.by_id(conn, i) for i in (move["from_server_id"], move["to_server_id"])} \
            if move else {}
    if move is None:
        return None
    source, target = servers[move["from_server_id"]], servers[move["to_server_id"]]
    user = account["cpanel_username"]
    if move["state"] == "requested":
        try:
            _copy(settings, subscription_id, user, account["domain"], source, target)
        except Exception as exc:  # whatever broke, the source was not touched
            reason = f"moving the account {user} to {target['hostname']} failed while copying: {_said(exc)}"
            _fail(settings, subscription_id, move["id"], reason)
            return "move failed"
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.advance(conn, move["id"], "copied")
        move = {**move, "state": "copied"}
    if move["state"] == "copied":
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.switch_server(conn, subscription_id, target["id"])
        try:
            up()
        except Exception as exc:
            with db.transaction(settings.DATABASE_URL) as conn:
                rows.switch_server(conn, subscription_id, source["id"])
            _fail(settings, subscription_id, move["id"],
                  f"moving the account {user} to {target['hostname']} failed while switching ({_said(exc)}); "
                  f"it is served from {source['hostname']} again, and the copy on {target['hostname']} "
                  "is left for an operator to remove")
            raise
        with db.transaction(settings.DATABASE_URL) as conn:
            rows.advance(conn, move["id"], "switched")
    _remove_source(settings, user, source, target)
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.advance(conn, move["id"], "done")
    log.info("subscription %s: account %s moved from %s to %s", subscription_id, user,
             source["hostname"], target["hostname"])
    return "moved"


def move_off_draining_servers(settings: Settings) -> int:
    """The drain sweep: a draining server with a pace (servers.drain_moves_per_hour) has that many
    of its accounts a move requested per hour, each to the server placement would choose in its
    plan's group (one that can restore archives); returns how many were requested."""
    with db.transaction(settings.DATABASE_URL) as conn:
        draining = server_rows.draining_with_pace(conn)
    requested = 0
    for server in draining:
        with db.transaction(settings.DATABASE_URL) as conn:
            owed = server["drain_moves_per_hour"] - server_rows.moves_requested_since(conn, server["id"], 60)
            for account in server_rows.accounts_to_move(conn, server["id"], max(owed, 0)):
                candidates = [s for s in server_rows.lock_group(conn, account["server_group"])
                              if s["id"] != server["id"] and s["archive_dir"]]
                target = choose(candidates, account["disk_quota_mb"])
                if target is None:
                    log.warning("draining %s: no server of the group '%s' has room for subscription %s",
                                server["hostname"], account["server_group"], account["id"])
                    continue
                rows.request(conn, account["id"], server["id"], target["id"])
                request_converge(conn, account["id"])
                requested += 1
    return requested


# --- the steps ----------------------------------------------------------------------------------

def _copy(settings: Settings, subscription_id: int, user: str, domain: str, source: dict, target: dict) -> None:
    to_whm = whm_client(settings, target["id"])
    if to_whm.find_account(user=user) is not None or to_whm.find_account(domain=domain) is not None:
        raise MoveFailed(f"{target['hostname']} already has an account {user} or one for {domain}")
    backup = back_up_account(settings, subscription_id, client=whm_client(settings, source["id"]), reason="move")
    if backup is None or not backup.archive:
        raise MoveFailed(f"WHM on {source['hostname']} made no archive of {user}")
    archive = f"{target['archive_dir'].rstrip('/')}/cpmove-{user}.tar.gz"
    from_shell, to_shell = Shell.of(settings, source), Shell.of(settings, target)
    carry(settings, from_shell, backup.archive, to_shell, archive)
    restored = False
    try:
        to_whm.call("start_local_cpmove_restore", {"cpmovepath": archive}, post=True)
        restored = True
        summary = to_whm.account_summary(user)
        if summary.get("domain") != domain:
            raise MoveFailed(f"the restored account {user} on {target['hostname']} is for {summary.get('domain')}")
        before = files_of(settings, from_shell, f"{from_shell.home_root}/{user}")
        after = files_of(settings, to_shell, f"{to_shell.home_root}/{user}")
        if before != after:
            raise MoveFailed(f"the home of {user} on {target['hostname']} differs from the source's "
                             f"({len(after)} files against {len(before)})")
        _same_databases(whm_client(settings, source["id"]).mysql_databases(user), to_whm.mysql_databases(user),
                        user, target["hostname"])
    except Exception:
        if restored:  # nothing points at the unfinished copy yet: it goes
            try:
                to_whm.removeacct(user)
            except ProviderError:
                log.exception("could not remove the unfinished copy of %s on %s", user, target["hostname"])
        raise


def _same_databases(source: dict[str, list[str]], target: dict[str, list[str]], user: str, where: str) -> None:
    """MoveFailed naming what the target's restore lacks or has otherwise (the source's are the truth)."""
    if source == target:
        return
    missing = sorted(set(source) - set(target))
    extra = sorted(set(target) - set(source))
    users = sorted(db for db in set(source) & set(target) if source[db] != target[db])
    said = "; ".join(part for part in (
        missing and f"missing {', '.join(missing)}", extra and f"not on the source {', '.join(extra)}",
        users and f"other database users on {', '.join(users)}") if part)
    raise MoveFailed(f"the MySQL databases of {user} on {where} differ from the source's: {said}")


def _remove_source(settings: Settings, user: str, source: dict, target: dict) -> None:
    try:
        whm_client(settings, source["id"]).removeacct(user)
    except NotFound:
        pass  # removed by an earlier attempt
    for server in (source, target):
        try:
            whm_client(settings, server["id"]).call("delete_account_archives", {"user": user}, post=True)
        except ProviderError:
            log.warning("the archive of %s on %s was not deleted", user, server["hostname"])


def _fail(settings: Settings, subscription_id: int, move_id: int, reason: str) -> None:
    log.error("subscription %s: %s", subscription_id, reason)
    with db.transaction(settings.DATABASE_URL) as conn:
        rows.advance(conn, move_id, "failed", reason[:1000])
        if subscriptions.flag(conn, subscription_id, reason[:1000]):
            request_attention_alert(conn, subscription_id)


def _said(exc: Exception) -> str:
    return (exc.message if isinstance(exc, ProviderError) else str(exc)).strip().splitlines()[0][:300] \
        if str(exc).strip() else type(exc).__name__
