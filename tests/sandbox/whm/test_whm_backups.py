"""The WHM stand-in's account backups: a real cpmove archive of the home and the domain's mail,
listed, restored and deleted through WHM API 1 functions."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from sandbox.whm import create_app
from tests.sandbox.whm.test_whm_stand_in import TOKEN, Whm


@pytest.fixture
def state_path(tmp_path):
    return tmp_path / "whm" / "state.sqlite3"


@pytest.fixture
def mail_root(tmp_path):
    root = tmp_path / "mailcore"
    root.mkdir()
    return root


@pytest.fixture
def whm(state_path, sleeps, mail_root):
    return Whm(create_app(state_path, TOKEN, sleep=sleeps, mail_root=mail_root))


@pytest.fixture
def shop(whm, state_path, mail_root):
    """An account with a page in its home and a message in its domain's mailbox."""
    whm.create(username="shop", domain="shop.example", contactemail="owner@example.net")
    (state_path.parent / "home" / "shop" / "public_html" / "index.html").write_text("<h1>my shop</h1>")
    new = mail_root / "shop.example" / "admin" / "Maildir" / "new"
    new.mkdir(parents=True)
    (new / "1700000000.M1P1.mail").write_text("Subject: kept\n\nhello\n")
    return "shop"


def archive_members(state_path, user):
    with tarfile.open(state_path.parent / "backups" / f"cpmove-{user}.tar.gz") as tar:
        return set(tar.getnames())


def test_pkgacct_archives_what_the_web_server_holds_and_never_the_mail_cores_maildirs(whm, shop, state_path):
    """The web server's pkgacct cannot see the mail-core server's maildirs (issue 22, item 5):
    the home, the databases and the account's own files and config, nothing else."""
    data = whm.ok("start_background_pkgacct", user=shop)
    assert whm.ok("get_pkgacct_session_state", session_id=data["session_id"])["state"] == "COMPLETED"
    members = archive_members(state_path, shop)
    assert {"cpmove-shop/version", "cpmove-shop/cp/shop", "cpmove-shop/shadow", "cpmove-shop/mysql",
            "cpmove-shop/userdata/shop.example", "cpmove-shop/homedir/public_html/index.html"} <= members
    assert not [m for m in members if "/mail/" in m or m.endswith("/mail") or "Maildir" in m]


def test_the_archive_is_private_because_it_holds_the_password_hash(whm, shop, state_path):
    whm.ok("start_background_pkgacct", user=shop)
    path = state_path.parent / "backups" / "cpmove-shop.tar.gz"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_list_cparchive_files_lists_each_accounts_archive(whm, shop, state_path):
    assert whm.ok("list_cparchive_files")["quickrestore_files"] == []
    whm.ok("start_background_pkgacct", user=shop)
    [listed] = whm.ok("list_cparchive_files")["quickrestore_files"]
    assert (listed["file"], listed["user"], listed["path"]) == (
        "cpmove-shop.tar.gz", "shop", str(state_path.parent / "backups"))
    assert listed["size"] > 0


def test_pkgacct_of_an_unknown_account_fails_and_writes_nothing(whm, state_path):
    assert "does not exist" in whm.reason("start_background_pkgacct", user="nobody1")
    assert not (state_path.parent / "backups").exists()


def test_an_unknown_pkgacct_session_is_an_error(whm):
    assert "does not exist" in whm.reason("get_pkgacct_session_state", session_id="shop20240101000000abc")


def test_a_backup_that_fails_halfway_keeps_the_previous_archive_and_leaves_no_partial_file(
        whm, shop, state_path, monkeypatch):
    whm.ok("start_background_pkgacct", user=shop)
    backups = state_path.parent / "backups"
    before = (backups / "cpmove-shop.tar.gz").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(tarfile.TarFile, "add", disk_full)
    assert "No space left" in whm.reason("start_background_pkgacct", user=shop)
    assert (backups / "cpmove-shop.tar.gz").read_bytes() == before
    assert [p.name for p in backups.iterdir()] == ["cpmove-shop.tar.gz"]


def test_an_injected_pkgacct_failure_is_a_failed_call(whm, shop):
    whm.fault(operation="start_background_pkgacct", kind="code", reason="Sorry, the server is busy.", count=1)
    assert "busy" in whm.reason("start_background_pkgacct", user=shop)


def test_the_archive_outlives_the_account(whm, shop, state_path):
    whm.ok("start_background_pkgacct", user=shop)
    whm.ok("removeacct", username=shop)
    assert [f["user"] for f in whm.ok("list_cparchive_files")["quickrestore_files"]] == ["shop"]


def test_restore_brings_back_the_account_its_password_and_its_files_never_the_mail(whm, shop, state_path,
                                                                                      mail_root):
    whm.ok("start_background_pkgacct", user=shop)
    password_hash = whm.stored_hash(shop)
    whm.ok("removeacct", username=shop)
    (mail_root / "shop.example").rename(mail_root / "gone")  # the mail domain was removed as well

    path = state_path.parent / "backups" / "cpmove-shop.tar.gz"
    restored = whm.ok("start_local_cpmove_restore", cpmovepath=str(path))
    assert (restored["user"], restored["domain"]) == ("shop", "shop.example")
    account = whm.account(shop)
    assert (account["domain"], account["email"], account["plan"]) == ("shop.example", "owner@example.net",
                                                                     "mpanel_starter")
    assert whm.stored_hash(shop) == password_hash
    assert (state_path.parent / "home" / "shop" / "public_html" / "index.html").read_text() == "<h1>my shop</h1>"
    assert not (mail_root / "shop.example").exists()  # mail-core's mail is mpanel's to restore, not WHM's
    assert not (state_path.parent / "home" / "shop" / "mail").exists()


def test_restore_is_refused_while_the_account_exists(whm, shop, state_path):
    whm.ok("start_background_pkgacct", user=shop)
    path = state_path.parent / "backups" / "cpmove-shop.tar.gz"
    assert "already exists" in whm.reason("start_local_cpmove_restore", cpmovepath=str(path))


def test_restore_only_reads_archives_the_server_keeps(whm, shop, tmp_path):
    elsewhere = tmp_path / "cpmove-shop.tar.gz"
    elsewhere.write_bytes(b"")
    assert "not a cpmove archive in" in whm.reason("start_local_cpmove_restore", cpmovepath=str(elsewhere))


def test_restore_refuses_an_archive_that_climbs_out_of_its_directory(whm, state_path):
    backups = state_path.parent / "backups"
    backups.mkdir(parents=True)
    evil = backups / "cpmove-evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, text in (("cpmove-evil/cp/evil", "USER=evil\nDNS=evil.example\nPLAN=mpanel_starter\n"),
                           ("cpmove-evil/shadow", "x\n"), ("cpmove-evil/homedir/../../../escaped", "boom")):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text.encode()))
    assert "refused" in whm.reason("start_local_cpmove_restore", cpmovepath=str(evil))
    assert "evil" not in whm.ok("listaccts")["acct"]
    assert not (state_path.parent.parent / "escaped").exists()
    assert not (state_path.parent / "escaped").exists()


def test_without_a_mail_server_only_the_home_is_archived(state_path, sleeps):
    whm = Whm(create_app(state_path, TOKEN, sleep=sleeps))
    whm.create(username="shop", domain="shop.example")
    whm.ok("start_background_pkgacct", user="shop")
    members = archive_members(state_path, "shop")
    assert "cpmove-shop/homedir/public_html" in members
    assert not any("/homedir/mail/" in name for name in members)


def test_delete_account_archives_removes_the_archive(whm, shop):
    whm.ok("start_background_pkgacct", user=shop)
    whm.ok("delete_account_archives", user=shop)
    assert whm.ok("list_cparchive_files")["quickrestore_files"] == []


def test_reset_removes_the_archives_too(whm, shop, state_path):
    whm.ok("start_background_pkgacct", user=shop)
    whm.http.post("/_sandbox/reset")
    assert not (state_path.parent / "backups").exists()
