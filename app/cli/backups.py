"""`mpanel backups list|restore`: the backups mpanel keeps of each subscription (web + mail)."""
from __future__ import annotations

import json

from app.settings import Settings


def add_parser(sub) -> None:
    p = sub.add_parser("backups", help="a subscription's backups (WHM archive + mail): list, restore")
    p.add_argument("action", choices=["list", "restore"])
    p.add_argument("subscription_id", type=int, metavar="SUBSCRIPTION")
    p.add_argument("archive", nargs="?", metavar="ARCHIVE", help="restore: the backup's name, as listed")
    p.add_argument("--from-subscription", type=int, default=None,
                   help="restore: the backup is of this earlier order of the same customer for the same domain")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=run)


def run(args) -> int:
    from app.services.hosting import account_backups

    settings = Settings.from_env()
    if args.action == "list":
        found = account_backups.list_backups(settings, args.subscription_id)
        if args.json:
            print(json.dumps(found, indent=2, default=str))
            return 0
        if not found:
            print(f"subscription {args.subscription_id} has no backups in {account_backups.backup_root(settings)}")
        for b in found:
            boxes = ", ".join(m["address"] for m in b["mailboxes"]) or "no mailboxes"
            print(f"{b['archive']}  {b['reason']:<9} {b['domain']} ({b['cpanel_user']} on {b['server']}); "
                  f"mail: {boxes}  {b['path']}")
        return 0
    if not args.archive:
        print("mpanel backups restore SUBSCRIPTION ARCHIVE: name the backup (mpanel backups list SUBSCRIPTION)")
        return 2
    try:
        done = account_backups.restore_backup(settings, args.subscription_id, args.archive,
                                              from_subscription=args.from_subscription)
    except account_backups.BackupRefused as exc:
        print(f"mpanel backups: {exc}")
        return 1
    print(json.dumps(done, indent=2) if args.json else
          f"restored {done['archive']} into {done['home']}; mailboxes: {', '.join(done['mailboxes']) or 'none'}"
          + (f"; not restored (no such mailbox now): {', '.join(done['mailboxes_not_restored'])}"
             if done["mailboxes_not_restored"] else ""))
    return 0
