"""Migrations only add (expand) until every process runs the new code, checked from the SQL text.

An upgrade runs `mpanel db upgrade` while the previous release's workers are still running
(docs/operations.md, "Upgrading"); they must keep working against the new schema. So a
migration after BASELINE may add tables, columns (nullable, or NOT NULL with a DEFAULT),
indexes, constraints that hold already, and data; it may not drop, rename, change a
column's type or make a column NOT NULL. Removing what the old code used (contract) is a
later release's migration, written once no process runs the code that needed it, and says so
on the statement's line: `-- contract: <why it is safe now>`.
"""
from __future__ import annotations

import re
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
MIGRATIONS = CHECKOUT / "app" / "db" / "migrations"
# The last migration written before the rule existed; later ones are held to it.
BASELINE = "0022_system_attention.sql"

_FORBIDDEN = (
    (re.compile(r"\bDROP\s+(TABLE|COLUMN|VIEW|MATERIALIZED\s+VIEW|TYPE|FUNCTION|SCHEMA|SEQUENCE|TRIGGER)\b", re.I),
     "drops what the previous release may still use"),
    (re.compile(r"\bRENAME\b", re.I), "renames what the previous release reads by its old name"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.I), "changes a column's type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.I), "makes a column NOT NULL (the previous release may write NULL)"),
)
_ADD_COLUMN = re.compile(r"\bADD\s+COLUMN\b[^,;]*", re.I)


def _statements(sql: str) -> list[tuple[int, str]]:
    """(first line, text) of each statement, comments kept (they carry the contract marker)."""
    out, start, current = [], 1, []
    for number, line in enumerate(sql.splitlines(), 1):
        if not current:
            start = number
        current.append(line)
        code = line.split("--", 1)[0]
        if code.rstrip().endswith(";"):
            out.append((start, "\n".join(current)))
            current = []
    if current:
        out.append((start, "\n".join(current)))
    return out


def contractions(sql: str) -> list[str]:
    """'line N: why' for each statement that takes away from the schema without the marker."""
    found = []
    for line, statement in _statements(sql):
        if "-- contract:" in statement:
            continue
        code = "\n".join(part.split("--", 1)[0] for part in statement.splitlines())
        for pattern, why in _FORBIDDEN:
            if pattern.search(code):
                found.append(f"line {line}: {why}: {' '.join(code.split())[:120]}")
        for added in _ADD_COLUMN.finditer(code):
            text = added.group(0)
            if re.search(r"\bNOT\s+NULL\b", text, re.I) and not re.search(r"\bDEFAULT\b", text, re.I):
                found.append(f"line {line}: adds a NOT NULL column without a DEFAULT (the previous release's "
                             f"inserts leave it out): {' '.join(text.split())[:120]}")
    return found


def test_the_rule_catches_each_kind_of_contraction():
    sql = """
CREATE TABLE IF NOT EXISTS fine (id bigserial PRIMARY KEY, note text);
ALTER TABLE fine ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'new';
ALTER TABLE fine ALTER COLUMN note DROP NOT NULL;
DROP INDEX IF EXISTS fine_old_idx;
ALTER TABLE subscriptions DROP COLUMN legacy;
ALTER TABLE subscriptions RENAME COLUMN a TO b;
ALTER TABLE subscriptions ALTER COLUMN price TYPE numeric;
ALTER TABLE subscriptions ALTER COLUMN note SET NOT NULL;
ALTER TABLE subscriptions ADD COLUMN must text NOT NULL;
DROP TABLE old_things;  -- contract: nothing has read old_things since 0.3.0
"""
    found = contractions(sql)
    assert [f.split(":")[0] for f in found] == ["line 6", "line 7", "line 8", "line 9", "line 10"], found


def test_the_baseline_migration_exists():
    assert (MIGRATIONS / BASELINE).is_file(), f"{BASELINE} is gone: move BASELINE to the last migration before the rule"


def test_migrations_after_the_baseline_only_add():
    later = [p for p in sorted(MIGRATIONS.glob("*.sql")) if p.name > BASELINE]
    problems = [f"{p.name} {problem}" for p in later for problem in contractions(p.read_text())]
    assert not problems, ("migrations after the baseline must only add while old workers run (expand); "
                          "contract in a later release with `-- contract: <why>`:\n  " + "\n  ".join(problems))
