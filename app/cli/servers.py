"""`mpanel servers add|list|update|drain|enable|retire|move|sync`: the operators' web servers."""
from __future__ import annotations

import argparse
import json
import os
import sys

from app.settings import Settings

FIELDS = ("name", "hostname", "ip_address", "whm_url", "whm_username", "ssh_address", "ssh_host_key",
          "home_root", "archive_dir", "capacity", "disk_capacity_mb", "drain_moves_per_hour", "server_group",
          "fill_strategy")


def add_parser(sub) -> None:
    p = sub.add_parser("servers", help="web servers: add, list, update, drain, enable, retire, move, sync")
    p.add_argument("action", choices=["add", "list", "update", "drain", "enable", "retire", "move", "sync"])
    p.add_argument("server", nargs="?", help="update/drain/enable/retire: the server's id or name; "
                                             "move: the subscription's id")
    p.add_argument("--to", help="move: the server (id or name) the account goes to")
    p.add_argument("--archive-dir", help="where the server's WHM restores cpmove archives from (cPanel: /home)")
    p.add_argument("--name")
    p.add_argument("--hostname")
    p.add_argument("--ip", dest="ip_address")
    p.add_argument("--whm-url")
    p.add_argument("--whm-username")
    p.add_argument("--whm-token-env", metavar="VAR",
                   help="the environment variable holding the WHM API token (kept out of `ps` and shell history)")
    p.add_argument("--ssh-address", help="host:port where sites are published")
    p.add_argument("--ssh-host-key", help="the server's public SSH host key line, or @file.pub")
    p.add_argument("--home-root", help="where account homes live (default SITES_HOME_ROOT)")
    p.add_argument("--capacity", type=int, help="accounts")
    p.add_argument("--disk-capacity-mb", type=int, help="sum of the plans' disk quotas it may hold")
    p.add_argument("--drain-moves-per-hour", type=int,
                   help="while draining, move this many of its accounts away per hour (unset: none are moved)")
    p.add_argument("--group", dest="server_group")
    p.add_argument("--fill", dest="fill_strategy", choices=["least_loaded", "fill_first"],
                   help="the group's fill strategy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=run)


def run(args) -> int:
    from app.services.hosting import servers

    settings = Settings.from_env()
    try:
        if args.action == "list":
            return _print_list(servers.list_servers(settings), args.json)
        if args.action == "sync":
            _need_server(args)
            return _print_sync(settings, args.server, args.json)
        if args.action == "move":
            from app.services.hosting.moves import request_move

            if not (args.server or "").isdigit() or not args.to:
                raise servers.ServerRefused("move", "give the subscription's id and --to SERVER")
            move_id = request_move(settings, int(args.server), args.to)
            print(f"move {move_id} requested: the worker copies the account, switches it, then removes the source")
            return 0
        if args.action in ("drain", "enable", "retire"):
            _need_server(args)
            state = {"drain": "draining", "enable": "active", "retire": "retired"}[args.action]
            server_id = servers.set_state(settings, args.server, state, args.drain_moves_per_hour)
            print(f"server {server_id}: {state}")
            return _place_waiting(settings)
        given = servers.ServerInput(**_given(args))
        if args.action == "add":
            server_id = servers.add_server(settings, given)
            print(f"server {server_id} added")
        else:
            _need_server(args)
            server_id = servers.update_server(settings, args.server, given)
            print(f"server {server_id} updated")
        return _place_waiting(settings)
    except servers.ServerRefused as exc:
        print(f"mpanel servers: {exc}", file=sys.stderr)
        return 2


def _place_waiting(settings: Settings) -> int:
    """Room may have appeared: orders waiting for it are placed now rather than at the next sweep."""
    from app.services.hosting.placement import place_waiting_orders

    placed = place_waiting_orders(settings)
    if placed:
        print(f"{placed} orders waiting for capacity placed")
    return 0


def _need_server(args) -> None:
    from app.services.hosting.servers import ServerRefused

    if not args.server:
        raise ServerRefused("server", "name the server (its id or name)")


def _given(args) -> dict:
    from app.services.hosting.servers import ServerRefused

    values = {f: getattr(args, f) for f in FIELDS if getattr(args, f, None) is not None}
    key = values.get("ssh_host_key")
    if key and key.startswith("@"):
        try:
            with open(key[1:]) as fh:
                values["ssh_host_key"] = fh.read().strip()
        except OSError as exc:
            raise ServerRefused("ssh_host_key", f"cannot read {key[1:]}: {exc.strerror}") from None
    if args.whm_token_env:
        token = os.environ.get(args.whm_token_env)
        if not token:
            raise ServerRefused("whm_token", f"the environment variable {args.whm_token_env} is empty")
        values["whm_token"] = token
    return values


def _print_sync(settings: Settings, server: str, as_json: bool) -> int:
    """The sync report (read only): what is on the server and its upstreams that no stack
    manages, and the stacks whose account is missing or differs."""
    from app.services.operators.sync_report import sync_report

    report = sync_report(settings, server)
    if as_json:
        print(json.dumps(report.as_dict(), default=str, indent=2))
        return 0
    s = report.server
    print(f"server {s['id']} ({s['name']}): {report.accounts} WHM accounts, {report.stacks} stacks placed on it "
          f"({report.seconds:.2f} s)")
    for name, count in report.counts.items():
        print(f"  {name.replace('_', ' '):26} {count}")
    for a in report.unmanaged_accounts:
        taken = f"  (the domain is ordered as {a['ordered_as']})" if a["ordered_as"] else ""
        print(f"unmanaged account   {a['user']:16} {a['domain']:32} package={a['package']} "
              f"suspended={'yes' if a['suspended'] else 'no'}{taken}")
    for a in report.missing_accounts:
        print(f"missing account     {a['stack']:16} {a['domain']:32} user={a['user']}")
    for a in report.differing_accounts:
        what = ", ".join(f"{d['what']} {d['upstream']!r} (wanted {d['wanted']!r})" for d in a["differences"])
        print(f"differing account   {a['stack']:16} {a['domain']:32} {what}")
    for z in report.unmanaged_zones:
        print(f"unmanaged zone      {z['zone']:49} account={z['account'] or '-'}")
    for d in report.unmanaged_mail_domains:
        print(f"unmanaged mail      {d['domain']:49} owner={d['owner'] or '-'} mailboxes={d['mailboxes']}")
    for r in report.unordered_registrations:
        print(f"registration, no order  {r['domain']}")
    for problem in report.unreachable:
        print(f"not read: {problem}", file=sys.stderr)
    return 1 if report.unreachable else 0


def _print_list(found: list[dict], as_json: bool) -> int:
    if as_json:
        print(json.dumps(found, default=str, indent=2))
        return 0
    print(f"{'id':>4}  {'name':20} {'group':12} {'state':9} {'accounts':>12} {'disk MB':>17}  whm")
    for s in found:
        disk = f"{s['disk_used_mb']}/{s['disk_capacity_mb'] or '-'}"
        print(f"{s['id']:>4}  {s['name'][:20]:20} {s['server_group'][:12]:12} {s['status']:9} "
              f"{str(s['accounts']) + '/' + str(s['capacity']):>12} {disk:>17}  "
              f"{s['whm_url'] or 'CPANEL_WHM_URL'} ({s['fill_strategy']})")
    return 0
