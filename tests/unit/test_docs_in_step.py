"""The documents stay in step with the code: every setting, every command, every link.

- docs/configuration.md's tables name every field of `Settings` (app/settings.py), and no
  variable that is neither a field nor one of the few read elsewhere (READ_ELSEWHERE);
- docs/operations.md's command list names every `mpanel` subcommand of the parser
  (app/cli/__init__.py `parser()`) and every action a subcommand offers;
- every relative link of README.md and docs/*.md reaches a file of this repository, and
  nothing points outside it but the default place of third-party build inputs (../shared/vendor/).
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from app.cli import parser
from app.settings import Settings

CHECKOUT = Path(__file__).resolve().parents[2]
CONFIGURATION = CHECKOUT / "docs" / "configuration.md"
OPERATIONS = CHECKOUT / "docs" / "operations.md"

# Documented, read by the code, and deliberately not fields of Settings: the process layout
# (app/settings.py state_dir/port_base, app/cli), the engine's install and provider process
# (stacks/install.py, stacks/provider_host.py), the worker's logging and the setup tooling.
READ_ELSEWHERE = ("MPANEL_STATE_DIR", "MPANEL_PORT_BASE", "MPANEL_APP_PORT", "MPANEL_WORKER_CONCURRENCY", "MPANEL_WEB_PROCESSES",
                  "MPANEL_CACHE_DIR", "MPANEL_PROVIDER_HOST", "MPANEL_LOG_LEVEL", "MPANEL_PULUMI_COMMAND_SRC",
                  "MPANEL_LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR")

VARIABLE = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|NS[12])`")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


# --- reading the documents ------------------------------------------------------------------


def table_variables(markdown: str) -> set[str]:
    """Every `VARIABLE` in the first column of the markdown tables (header and rule rows excluded)."""
    found: set[str] = set()
    for line in markdown.splitlines():
        cells = line.strip().split("|")
        if len(cells) < 3 or not line.strip().startswith("|") or set(cells[1].strip()) <= set("-: "):
            continue
        found.update(VARIABLE.findall(cells[1]))
    return found


def command_lines(markdown: str) -> list[str]:
    """Lines of the fenced code blocks that run `mpanel`."""
    lines, inside = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside and re.search(r"\bmpanel \w", line):
            lines.append(line.split("#", 1)[0])
    return lines


def documented(command: str, lines: list[str]) -> list[str]:
    """The documented lines of `mpanel <command>`, without what comes before it."""
    return [line.split(f"mpanel {command}", 1)[1] for line in lines
            if re.search(rf"\bmpanel {re.escape(command)}\b", line)]


def subcommands() -> dict[str, tuple[str, ...]]:
    """Each `mpanel` subcommand and the choices of its positional arguments (actions, what to bench)."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {name: tuple(c for a in p._actions if not a.option_strings and a.choices for c in a.choices)
            for name, p in sub.choices.items()}


def relative_links(markdown: str) -> list[str]:
    return [target for target in LINK.findall(markdown)
            if not re.match(r"[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")]


def documents() -> list[Path]:
    return [CHECKOUT / "README.md", *sorted((CHECKOUT / "docs").glob("*.md"))]


# --- the readers themselves -------------------------------------------------------------------


def test_the_readers_find_table_variables_commands_and_links():
    sample = ("| variable | meaning |\n|---|---|\n| `SMTP_HOST`, `SMTP_PORT` | mail, not `/etc/x` |\n"
              "| `NS1`, `NS2` | nameservers; see `DATABASE_URL` |\n"
              "`OUTSIDE_TABLE` is prose\n```sh\n.venv/bin/mpanel servers add|retire X   # not `mpanel db`\n```\n"
              "[a](docs/x.md) [b](https://example.com) [c](#here) ![img](pic.png)\n")
    assert table_variables(sample) == {"SMTP_HOST", "SMTP_PORT", "NS1", "NS2"}
    lines = command_lines(sample)
    assert documented("servers", lines) == [" add|retire X   "] and documented("db", lines) == []
    assert relative_links(sample) == ["docs/x.md"]


def test_the_parser_is_read_with_its_actions():
    found = subcommands()
    assert {"setup", "services", "db", "servers", "stacks", "version"} <= set(found)
    assert "retire" in found["servers"] and "migrate" in found["stacks"]


# --- configuration ----------------------------------------------------------------------------


def test_every_setting_is_in_the_configuration_tables_and_nothing_else_is():
    fields = {f.name for f in dataclasses.fields(Settings) if not f.metadata.get("derived")}
    listed = table_variables(CONFIGURATION.read_text())
    missing = sorted(fields - listed)
    assert not missing, f"docs/configuration.md lacks these Settings fields (app/settings.py): {missing}"
    unknown = sorted(listed - fields - set(READ_ELSEWHERE))
    assert not unknown, (f"docs/configuration.md names {unknown}, which Settings does not have: remove them, "
                         "or, when the code reads them elsewhere, add them to READ_ELSEWHERE")
    absent = sorted(set(READ_ELSEWHERE) - listed)
    assert not absent, f"docs/configuration.md no longer documents {absent}: drop them from READ_ELSEWHERE"


@pytest.mark.parametrize("name", READ_ELSEWHERE)
def test_each_variable_read_elsewhere_is_read_by_the_code(name):
    sources = [p for top in ("app", "stacks", "providers", "tools") for p in (CHECKOUT / top).rglob("*.py")]
    assert any(f'"{name}"' in p.read_text() for p in sources), (
        f"{name} is documented as read by the code, but no module of app, stacks, providers or tools reads it")


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_subcommand_and_its_actions_are_in_the_command_list(command):
    lines = documented(command, command_lines(OPERATIONS.read_text()))
    assert lines, f"`mpanel {command}` is missing from the command list in docs/operations.md"
    words = set(re.findall(r"[\w-]+", " ".join(lines)))
    missing = [choice for choice in subcommands()[command] if choice not in words]
    assert not missing, f"docs/operations.md's command list lacks `mpanel {command}` {'|'.join(missing)}"


# --- links ------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(CHECKOUT).as_posix())
def test_relative_links_reach_files_of_this_repository(document):
    broken = []
    for target in relative_links(document.read_text()):
        path = (document.parent / target.split("#", 1)[0]).resolve()
        if not path.is_relative_to(CHECKOUT) or not path.exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(CHECKOUT)} links to what this repository lacks: {broken}"


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(CHECKOUT).as_posix())
def test_nothing_outside_the_repository_is_named_but_the_third_party_build_inputs(document):
    outside = [line.strip() for line in document.read_text().splitlines()
               if re.search(r"\.\./shared/(?!vendor/)", line)]
    assert not outside, f"{document.relative_to(CHECKOUT)} points outside the repository: {outside}"
