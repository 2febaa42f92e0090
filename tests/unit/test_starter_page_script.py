"""The starter page's remote script (stacks/site.py), run here with the system shell as a web
server would run it: published once, never overwriting, never following a symlink."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stacks.site import KEPT, PUBLISHED, REFUSED, publish_once_script


def publish(root: Path, page: str = "<h1>welcome</h1>") -> subprocess.CompletedProcess:
    # A user that does not exist on this machine: the script runs as whoever logged in.
    return subprocess.run(["sh", "-c", publish_once_script(str(root), "mpanel-no-such-user")], input=page,
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def document_root(tmp_path) -> Path:
    root = tmp_path / "home" / "shopexam" / "public_html"
    root.mkdir(parents=True)
    return root


def test_an_empty_document_root_gets_the_page(document_root):
    done = publish(document_root, "<h1>hello</h1>")
    assert (done.returncode, done.stdout.strip()) == (0, PUBLISHED)
    assert (document_root / "index.html").read_text() == "<h1>hello</h1>"
    assert oct((document_root / "index.html").stat().st_mode & 0o777) == "0o644"


def test_the_customers_page_is_never_overwritten(document_root):
    (document_root / "index.html").write_text("my shop")
    done = publish(document_root, "<h1>starter</h1>")
    assert (done.returncode, done.stdout.strip()) == (0, KEPT)
    assert (document_root / "index.html").read_text() == "my shop"


def test_no_temporary_file_is_left_behind(document_root):
    publish(document_root)
    (document_root / "index.html").unlink()
    (document_root / "index.html").mkdir()  # something the customer put there meanwhile
    publish(document_root)
    assert sorted(p.name for p in document_root.iterdir()) == ["index.html"]


def test_a_symlink_named_index_html_is_not_followed(document_root, tmp_path):
    target = tmp_path / "outside.html"
    (document_root / "index.html").symlink_to(target)
    done = publish(document_root)
    assert done.returncode == 0 and not target.exists()


def test_a_document_root_reached_through_a_symlink_is_refused(tmp_path):
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    home = tmp_path / "home" / "shopexam"
    home.mkdir(parents=True)
    (home / "public_html").symlink_to(elsewhere)
    done = publish(home / "public_html")
    assert done.returncode == REFUSED and "symlink" in done.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_missing_document_root_is_refused_not_created(tmp_path):
    done = publish(tmp_path / "home" / "nobody" / "public_html")
    assert done.returncode == REFUSED and not (tmp_path / "home").exists()


def test_paths_with_shell_characters_are_quoted(tmp_path):
    root = tmp_path / "it's $(touch pwned) home"
    root.mkdir()
    assert publish(root).returncode == 0
    assert (root / "index.html").exists() and not Path("pwned").exists()
