"""Account backups: pkgacct's cpmove archive, listed, restored and deleted.

WHM API 1 functions, as cPanel names them:

- ``start_background_pkgacct`` (``user``): writes ``cpmove-<user>.tar.gz`` and answers a
  ``session_id``. The real server works in the background; this one finishes before it
  answers, so the session is already COMPLETED (or FAILED) when a client asks.
- ``get_pkgacct_session_state`` (``session_id``): ``state`` COMPLETED, FAILED or RUNNING.
- ``list_cparchive_files``: ``quickrestore_files`` [{file, path, user}], as WHM lists the
  cpmove files it could restore; sandbox extras ``size`` (bytes) and ``mtime`` (epoch).
- ``start_local_cpmove_restore`` (``cpmovepath``): recreates the account from the archive
  (record, password, home, databases and database users) and answers a ``transfer_session_id``; refused while an
  account with that user name or domain exists, as WHM's restore refuses.
- ``delete_account_archives`` (``user``): removes the account's archive.

The archive follows pkgacct's layout, inside one top directory ``cpmove-<user>/``:
``version``, ``cp/<user>`` (the account as KEY=value lines), ``shadow`` (the password
hash), ``userdata/<domain>`` (the account's own web configuration), ``mysql/`` (one
``<database>.create`` + ``<database>.sql`` per database of the account, ``sandbox.whm.mysql``),
``mysql.sql`` (its database users' grants) and ``homedir/`` (the home directory).
That is what cPanel's pkgacct can see on the web server: the mail of a cPanel server's own
domains would be in ``homedir/mail``, but here mail lives on the mail-core server, another
machine, so it is never in this archive (``mail_root`` is not read; mpanel archives the mail
itself from mail-core: app/services/hosting/account_backups.py). An old archive that holds
``homedir/mail`` restores it into the home, as cPanel would.

Archives are written to a temporary name and renamed, so a backup that fails leaves the
previous archive as it was; they live in ``<state dir>/backups`` and outlive the account
(removeacct keeps them, as WHM keeps /home/cpmove-*.tar.gz) until deleted.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ..common.state import StateStore
from .api import Done, Params, WhmFailure, find_account, required

SESSION_STATES = ("COMPLETED", "FAILED", "RUNNING")
# The account record as the cp/<user> file spells it: (file key, record key).
CP_FIELDS = (("USER", "user"), ("DNS", "domain"), ("PLAN", "plan"), ("OWNER", "owner"),
             ("CONTACTEMAIL", "email"), ("IP", "ip"), ("STARTDATE", "startdate"),
             ("SUSPENDED", "suspended"), ("SUSPENDREASON", "suspendreason"), ("SUSPENDTIME", "suspendtime"),
             ("QUOTA_MB", "quota_mb"), ("BWLIMIT_MB", "bwlimit_mb"), ("MAXPOP", "maxpop"))
INTEGER_FIELDS = frozenset({"startdate", "suspendtime", "quota_mb", "bwlimit_mb", "maxpop"})


def archive_name(user: str) -> str:
    return f"cpmove-{user}.tar.gz"


class Backups:
    store: StateStore
    mysql_dump: Callable[[str], dict[str, str]]  # sandbox.whm.mysql
    restore_mysql: Callable[..., list[str]]
    home_root: Path
    backup_root: Path
    mail_root: Path | None  # the mail-core server's: another machine's, never archived (see above)
    server_ip: str
    now: Callable[[], float]

    def start_background_pkgacct(self, params: Params) -> Done:
        user = required(params, "user")
        with self.store.view() as state:
            account = dict(find_account(state, user))
        session_id = f"{user}{time.strftime('%Y%m%d%H%M%S', time.gmtime(self.now()))}{secrets.token_hex(5)}"
        started = int(self.now())
        try:
            path = self._write_archive(account)
        except OSError as exc:
            self._record_session(session_id, user, "FAILED", None, started, str(exc))
            raise WhmFailure(f"pkgacct failed for “{user}”: {exc}") from None
        self._record_session(session_id, user, "COMPLETED", str(path), started, "")
        raw = f"pkgacct started.\nCopying homedir\nCopying mysql databases\npkgacct completed: {path}\n"
        return Done({"session_id": session_id, "file": path.name, "path": str(path.parent)},
                    reason="OK", raw=raw)

    def get_pkgacct_session_state(self, params: Params) -> Done:
        session_id = required(params, "session_id")
        with self.store.view() as state:
            session = state["pkgacct_sessions"].get(session_id)
        if session is None:
            raise WhmFailure(f"The pkgacct session “{session_id}” does not exist.")
        return Done({"state": session["state"]})

    def list_cparchive_files(self, params: Params) -> Done:
        files = []
        if self.backup_root.is_dir():
            for path in sorted(self.backup_root.glob("cpmove-*.tar.gz")):
                stat = path.stat()
                files.append({"file": path.name, "path": str(self.backup_root),
                              "user": path.name[len("cpmove-"):-len(".tar.gz")],
                              "size": stat.st_size, "mtime": int(stat.st_mtime)})
        return Done({"quickrestore_files": files})

    def delete_account_archives(self, params: Params) -> Done:
        user = required(params, "user")
        path = self.backup_root / archive_name(user)
        messages = []
        if path.exists():
            path.unlink()
            messages.append(f"Found archive: {path}")
        return Done(reason="OK", raw="\n".join(messages))

    def start_local_cpmove_restore(self, params: Params) -> Done:
        path = Path(required(params, "cpmovepath"))
        # Only archives this server keeps: a path elsewhere could be anything on the disk.
        if path.parent.resolve() != self.backup_root.resolve() or not path.name.startswith("cpmove-"):
            raise WhmFailure(f"“{path}” is not a cpmove archive in {self.backup_root}.")
        if not path.is_file():
            raise WhmFailure(f"The cpmove archive “{path}” does not exist.")
        with tarfile.open(path, "r:gz") as tar:
            account, password_hash = _read_account(tar)
            user, domain = account["user"], account["domain"]
            with self.store.view() as state:
                if user in state["accounts"]:
                    raise WhmFailure(f"The account “{user}” already exists: remove it before restoring it.")
                if state["accounts"].first(domain=domain) is not None:
                    raise WhmFailure(f"The domain “{domain}” already exists on this server.")
            home = self._home(user)
            if home.exists():
                raise WhmFailure(f"The home directory {home} already exists.")
            self.home_root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.home_root.parent, prefix=".restore-") as scratch:
                top = f"cpmove-{user}/"
                members = [m for m in tar.getmembers() if m.name.startswith(top + "homedir/")
                           or m.name == top + "homedir"]
                # The "tar" filter refuses absolute names, ".." and links leaving the archive,
                # and keeps owners (the mail must stay readable by the mail server's user).
                try:
                    tar.extractall(scratch, members=members, filter="tar")
                except tarfile.FilterError as exc:
                    raise WhmFailure(f"The cpmove archive was refused: {exc}") from None
                restored_home = Path(scratch) / top / "homedir"
                restored_home.mkdir(parents=True, exist_ok=True)
                shutil.move(str(restored_home), str(home))
            names = [n[len(f"cpmove-{user}/"):] for n in tar.getnames()]

            def read(name: str) -> str | None:
                member = tar.extractfile(f"cpmove-{user}/{name}") if name in names else None
                return member.read().decode() if member is not None else None

            try:
                with self.store.change() as state:
                    # As WHM does, the restored account takes this server's shared address, not the one
                    # it had where the archive was made (a move to another server changes its IP).
                    state["accounts"][user] = {**account, "ip": self.server_ip, "password_hash": password_hash}
                    warnings = self.restore_mysql(state, user, read, names)
            except WhmFailure:
                shutil.rmtree(home, ignore_errors=True)  # nothing of a refused restore stays
                raise
        raw = "".join(f"{w}\n" for w in warnings)
        return Done({"transfer_session_id": f"restore{user}{secrets.token_hex(5)}", "user": user,
                     "domain": domain}, reason="OK",
                    raw=f"Restoring account {user} from {path}\n{raw}Restore Complete\n")

    def remove_all_archives(self) -> None:
        shutil.rmtree(self.backup_root, ignore_errors=True)

    # -- the archive ---------------------------------------------------------------------

    def _write_archive(self, account: dict[str, Any]) -> Path:
        user, domain = account["user"], account["domain"]
        self.backup_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.backup_root, 0o700)
        final = self.backup_root / archive_name(user)
        fd, temporary = tempfile.mkstemp(dir=self.backup_root, prefix=f".{final.name}.")
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                top = f"cpmove-{user}"
                _add_text(tar, f"{top}/version", "pkgacct version 10 (mpanel WHM stand-in)\narchive version: 4\n")
                _add_text(tar, f"{top}/cp/{user}", _cp_file(account))
                _add_text(tar, f"{top}/shadow", account["password_hash"] + "\n")
                _add_text(tar, f"{top}/userdata/{domain}", _userdata(account, self._home(user)))
                _add_directory(tar, f"{top}/mysql")
                for name, text in self.mysql_dump(user).items():
                    _add_text(tar, f"{top}/{name}", text)
                home = self._home(user)
                if home.is_dir():
                    tar.add(home, arcname=f"{top}/homedir")  # symlinks are archived as links, never followed
            os.chmod(temporary, 0o600)  # it holds the password hash
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return final

    def _record_session(self, session_id: str, user: str, state: str, file: str | None, started: int,
                        error: str) -> None:
        with self.store.change() as stored:
            stored["pkgacct_sessions"][session_id] = {
                "session_id": session_id, "user": user, "state": state, "file": file,
                "started": started, "finished": int(self.now()), "error": error}

    def _home(self, username: str) -> Path:  # pragma: no cover (Accounts provides it)
        raise NotImplementedError


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_directory(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(time.time())
    tar.addfile(info)


def _userdata(account: dict[str, Any], home: Path) -> str:
    """The main domain's userdata file, as cPanel keeps it in /var/cpanel/userdata/<user>/."""
    return (f"---\ndocumentroot: {home}/public_html\nhomedir: {home}\nip: {account.get('ip', '')}\n"
            f"owner: {account.get('owner') or 'root'}\nservername: {account['domain']}\n"
            f"serveralias: www.{account['domain']}\nuser: {account['user']}\n")


def _cp_file(account: dict[str, Any]) -> str:
    lines = []
    for key, field in CP_FIELDS:
        value = account.get(field)
        if isinstance(value, bool):
            value = int(value)
        lines.append(f"{key}={'' if value is None else value}")
    return "\n".join(lines) + "\n"


def _read_account(tar: tarfile.TarFile) -> tuple[dict[str, Any], str]:
    names = tar.getnames()
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1 or not next(iter(tops)).startswith("cpmove-"):
        raise WhmFailure("The archive is not a cpmove archive: it must hold one cpmove-<user> directory.")
    top = next(iter(tops))
    user = top[len("cpmove-"):]

    def text(name: str) -> str:
        member = tar.extractfile(f"{top}/{name}") if f"{top}/{name}" in names else None
        if member is None:
            raise WhmFailure(f"The cpmove archive has no {name} file.")
        return member.read().decode()

    values = dict(line.split("=", 1) for line in text(f"cp/{user}").splitlines() if "=" in line)
    by_key = dict(CP_FIELDS)
    account: dict[str, Any] = {}
    for key, field in by_key.items():
        raw = values.get(key, "")
        if field in INTEGER_FIELDS:
            account[field] = int(raw) if raw.strip() else None
        elif field == "suspended":
            account[field] = raw.strip() == "1"
        else:
            account[field] = raw
    if account["user"] != user:
        raise WhmFailure("The cpmove archive's account file names another user.")
    return account, text("shadow").strip()
