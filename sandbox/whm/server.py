"""The hosting server behind the WHM stand-in: accounts, packages, TLS and login sessions.

Every public method of ``WhmServer`` implements one WHM API 1 function (see
``sandbox.whm.api`` for what they take and give back); each family of functions lives in
a module of its own and the server is their composition. Nothing here knows about HTTP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..common.state import Document, StateStore, Table
from .accounts import Accounts
from .backups import Backups
from .mysql import Mysql
from .packages import Packages, seed_packages
from .sessions import Sessions
from .tls import Tls


TABLES = [
    # Accounts by user (the key), by domain, and by the first 8 characters of the user,
    # which WHM keeps unique.
    Table("accounts", {"domain": lambda a: a["domain"], "prefix8": lambda a: a["user"][:8]}),
    Table("packages"),
    Table("ssl", {"user": lambda r: r["user"]}),       # by domain
    Table("sessions", {"user": lambda s: s["user"], "expires": lambda s: s["expires"]}),  # by token digest
    Table("pkgacct_sessions", {"user": lambda s: s["user"]}),  # by session id
    Table("mysql_databases", {"owner": lambda d: d["owner"]}),  # by database name
    Table("mysql_users", {"owner": lambda u: u["owner"]}),      # by database user name
]


def initial_state() -> Document:
    return {"schema": 1, "accounts": {}, "packages": seed_packages(), "ssl": {}, "sessions": {},
            "pkgacct_sessions": {}, "mysql_databases": {}, "mysql_users": {}}


class WhmServer(Accounts, Backups, Mysql, Packages, Tls, Sessions):
    def __init__(
        self,
        store: StateStore,
        home_root: Path,
        api_user: str,
        server_ip: str = "192.0.2.10",
        nameservers: tuple[str, ...] = ("ns1.mpanel.test", "ns2.mpanel.test"),
        now: Callable[[], float] = time.time,
        *,
        backup_root: Path | None = None,
        mail_root: Path | None = None,
    ):
        self.store = store
        self.home_root = home_root
        # cpmove archives beside the homes; the mail-core server's maildirs, when it is reachable.
        self.backup_root = backup_root or home_root.parent / "backups"
        self.mail_root = mail_root
        self.api_user = api_user
        self.server_ip = server_ip
        self.nameservers = nameservers
        self.now = now
        self.faults = None  # the fault registry, for faults inside a function (sandbox.whm.mysql)
