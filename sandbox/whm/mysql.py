"""An account's MySQL databases and database users, as cPanel documents them.

No MySQL server runs: a database is a record (its owner account, its content as the SQL a dump
of it would hold) and a database user a record (owner, password hash, the databases it has
privileges on). What is modeled:

- WHM API 1 ``list_mysql_databases_and_users`` (``user``): ``data.mysql_config``
  (``mysql-version``, ``prefix_length``, ``use_db_prefix``) and ``data.mysql_databases``, an
  object of database name -> the database users with privileges on it.
- UAPI (``uapi_cpanel`` and the ``/json-api/cpanel`` bridge with apiversion 3), module ``Mysql``:
  ``create_database`` (``name``), ``create_user`` (``name``, ``password``),
  ``set_privileges_on_database`` (``user``, ``database``, ``privileges``), ``delete_database``
  (``name``), ``list_databases`` (``[{database, disk_usage, users}]``, disk_usage in bytes: here
  the size of the database's SQL) and ``list_users`` (``[{user, shortuser, databases}]``).
  Names carry the account's prefix, the first 8 characters of its user name and ``_``
  (``use_db_prefix`` 1, ``prefix_length`` 8), as cPanel requires; a name without it is refused.
- What a site's application writes into a database is put there through the control API
  (``POST /_sandbox/mysql/<database>`` with ``{"sql": ...}``): the stand-in runs no SQL.
- pkgacct archives them as cPanel does, in ``mysql/``: ``<db>.create`` and ``<db>.sql`` per
  database, and ``mysql.sql`` with the users' grants (password hashes included); a restore
  recreates them. removeacct drops them.
- The pseudo-operation ``restore_mysql`` takes a ``code`` fault (``POST /_sandbox/faults``): the
  next restore brings the account back without its databases and answers success with the
  fault's reason as a warning in ``output.raw``, as cPanel's restore carries on past a
  database that failed to import.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable

from ..common.state import StateStore, Transaction
from .api import Done, Params, WhmFailure, find_account, required

MYSQL_VERSION = "8.0"
PREFIX_LENGTH = 8
NAME_CHARS = re.compile(r"^[a-z0-9_]{1,64}$")
GRANT_USER = re.compile(r"^GRANT USAGE ON \*\.\* TO '([^']+)'@'localhost' IDENTIFIED BY PASSWORD '([^']*)';$")
GRANT_DB = re.compile(r"^GRANT ALL PRIVILEGES ON `([^`]+)`\.\* TO '([^']+)'@'localhost';$")
RESTORE_FAULT = "restore_mysql"


def prefix_of(user: str) -> str:
    return f"{user[:PREFIX_LENGTH]}_"


def _hash(password: str) -> str:
    # MySQL's mysql_native_password form ("*" + upper hex of SHA1(SHA1(password))): what a
    # real dump's grants carry, never the password.
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


class Mysql:
    store: StateStore
    faults: Any  # the stand-in's FaultRegistry, when it has one (sandbox.whm.app sets it)

    # -- WHM API 1 --------------------------------------------------------------------------

    def list_mysql_databases_and_users(self, params: Params) -> Done:
        user = required(params, "user")
        with self.store.view() as state:
            find_account(state, user)
            databases = {db["name"]: sorted(db["users"]) for db in state["mysql_databases"].where(owner=user)}
        return Done({"mysql_config": {"mysql-version": MYSQL_VERSION, "prefix_length": PREFIX_LENGTH,
                                      "use_db_prefix": 1},
                     "mysql_databases": dict(sorted(databases.items()))})

    # -- UAPI Mysql::* ----------------------------------------------------------------------

    def mysql_uapi(self, user: str, function: str, params: Params) -> Any:
        """One UAPI Mysql call's data; WhmFailure with cPanel's reason when it fails."""
        calls: dict[str, Callable[[str, Params], Any]] = {
            "create_database": self._create_database, "create_user": self._create_user,
            "set_privileges_on_database": self._set_privileges, "delete_database": self._delete_database,
            "list_databases": self._list_databases, "list_users": self._list_users,
        }
        call = calls.get(function)
        if call is None:
            raise WhmFailure(f"The sandbox does not implement UAPI Mysql::{function}.")
        return call(user, params)

    def _create_database(self, user: str, params: Params) -> None:
        name = _prefixed(user, required(params, "name"), "database")
        with self.store.change() as state:
            if name in state["mysql_databases"]:
                raise WhmFailure(f"The database “{name}” already exists.")
            state["mysql_databases"][name] = {"name": name, "owner": user, "users": [], "sql": ""}

    def _create_user(self, user: str, params: Params) -> None:
        name = _prefixed(user, required(params, "name"), "user")
        password = required(params, "password")
        if len(password) < 8:
            raise WhmFailure("The password must be at least 8 characters long.")
        with self.store.change() as state:
            if name in state["mysql_users"]:
                raise WhmFailure(f"The user “{name}” already exists.")
            state["mysql_users"][name] = {"name": name, "owner": user, "password_hash": _hash(password)}

    def _set_privileges(self, user: str, params: Params) -> None:
        db_user, database = required(params, "user"), required(params, "database")
        required(params, "privileges")  # "ALL PRIVILEGES" or a list; the stand-in records access only
        with self.store.change() as state:
            db = _owned(state, "mysql_databases", database, user, "database")
            _owned(state, "mysql_users", db_user, user, "user")
            if db_user not in db["users"]:
                db["users"] = sorted([*db["users"], db_user])

    def _delete_database(self, user: str, params: Params) -> None:
        name = required(params, "name")
        with self.store.change() as state:
            _owned(state, "mysql_databases", name, user, "database")
            del state["mysql_databases"][name]

    def _list_databases(self, user: str, params: Params) -> list[dict[str, Any]]:
        with self.store.view() as state:
            return [{"database": db["name"], "disk_usage": len(db["sql"].encode()), "users": sorted(db["users"])}
                    for db in sorted(state["mysql_databases"].where(owner=user), key=lambda d: d["name"])]

    def _list_users(self, user: str, params: Params) -> list[dict[str, Any]]:
        with self.store.view() as state:
            grants = {}
            for db in state["mysql_databases"].where(owner=user):
                for db_user in db["users"]:
                    grants.setdefault(db_user, []).append(db["name"])
            return [{"user": u["name"], "shortuser": u["name"][len(prefix_of(user)):],
                     "databases": sorted(grants.get(u["name"], []))}
                    for u in sorted(state["mysql_users"].where(owner=user), key=lambda u: u["name"])]

    # -- what other functions need ----------------------------------------------------------

    def write_database(self, name: str, sql: Any) -> dict[str, Any]:
        """The control API: what the site's application wrote, as its dump would hold it."""
        if not isinstance(sql, str):
            raise ValueError("sql must be a string: the database's content as its dump holds it")
        with self.store.change() as state:
            db = state["mysql_databases"].get(name)
            if db is None:
                raise WhmFailure(f"The database “{name}” does not exist.")
            db["sql"] = sql
            return dict(db)

    def drop_account_mysql(self, state: Transaction, user: str) -> None:
        """removeacct: the account's databases and database users go with it."""
        state["mysql_databases"].delete_where(owner=user)
        state["mysql_users"].delete_where(owner=user)

    def mysql_dump(self, user: str) -> dict[str, str]:
        """pkgacct's ``mysql/`` files of the account: name (relative to ``mysql/``) -> text, and
        the grants file ``mysql.sql`` (relative to the archive's top)."""
        with self.store.view() as state:
            databases = sorted(state["mysql_databases"].where(owner=user), key=lambda d: d["name"])
            users = sorted(state["mysql_users"].where(owner=user), key=lambda u: u["name"])
        files = {}
        for db in databases:
            files[f"mysql/{db['name']}.create"] = f"CREATE DATABASE `{db['name']}`;\n"
            files[f"mysql/{db['name']}.sql"] = db["sql"]
        grants = [f"GRANT USAGE ON *.* TO '{u['name']}'@'localhost' IDENTIFIED BY PASSWORD '{u['password_hash']}';"
                  for u in users]
        grants += [f"GRANT ALL PRIVILEGES ON `{db['name']}`.* TO '{db_user}'@'localhost';"
                   for db in databases for db_user in db["users"]]
        files["mysql.sql"] = "\n".join(grants) + ("\n" if grants else "")
        return files

    def restore_mysql(self, state: Transaction, user: str, read: Callable[[str], str | None],
                      names: list[str]) -> list[str]:
        """Recreate the archive's databases, users and grants (``read`` gives a member's text,
        None when absent; ``names`` are the members). Returns warnings for ``output.raw``."""
        fault = self.faults.take(RESTORE_FAULT).outcome if getattr(self, "faults", None) else None
        databases = sorted(n[len("mysql/"):-len(".create")] for n in names
                           if n.startswith("mysql/") and n.endswith(".create"))
        if fault is not None and fault.kind == "code":
            return [f"Warning: {fault.reason or 'the databases could not be restored'}"]
        for name in databases:
            if name in state["mysql_databases"]:
                raise WhmFailure(f"The database “{name}” already exists on this server.")
            state["mysql_databases"][name] = {"name": name, "owner": user, "users": [],
                                              "sql": read(f"mysql/{name}.sql") or ""}
        for line in (read("mysql.sql") or "").splitlines():
            if found := GRANT_USER.match(line.strip()):
                if found.group(1) in state["mysql_users"]:
                    raise WhmFailure(f"The database user “{found.group(1)}” already exists on this server.")
                state["mysql_users"][found.group(1)] = {"name": found.group(1), "owner": user,
                                                        "password_hash": found.group(2)}
            elif (found := GRANT_DB.match(line.strip())) and found.group(1) in state["mysql_databases"]:
                db = state["mysql_databases"][found.group(1)]
                db["users"] = sorted({*db["users"], found.group(2)})
        return []


def _prefixed(user: str, name: str, what: str) -> str:
    name = name.strip()
    if not NAME_CHARS.match(name):
        raise WhmFailure(f"The {what} name “{name}” may only contain lower-case letters, digits and underscores.")
    if not name.startswith(prefix_of(user)):
        raise WhmFailure(f"The {what} name “{name}” must begin with the account’s prefix “{prefix_of(user)}”.")
    return name


def _owned(state: Transaction, table: str, name: str, user: str, what: str) -> dict[str, Any]:
    record = state[table].get(name)
    if record is None or record["owner"] != user:
        raise WhmFailure(f"The {what} “{name}” does not exist.")
    return record
