"""axe-core (the npm package) in the browser tests: each customer page checked against WCAG 2 A
and AA, the rules a screen reader user and a colour-blind user meet.

The package is installed once, from the npm registry, into a cache outside the repository
(tools/axe.py, which `mpanel setup` runs too), never vendored; a test injects its axe.min.js into the
page with Playwright and runs it there."""
from __future__ import annotations

from pathlib import Path

from tools import axe as installed

WCAG_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_script() -> Path:
    """axe.min.js, installed with npm into the cache (tools/axe.py) when it is missing."""
    return installed.ensure(log=lambda _line: None)


def violations(page) -> list[dict]:
    """What axe finds wrong on the page as it is now: each rule broken, with the elements."""
    page.add_script_tag(path=str(axe_script()))
    found = page.evaluate("""async (tags) => {
        const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                            nodes: v.nodes.map(n => n.target.join(" ") + " " + n.failureSummary)}));
    }""", WCAG_A_AA)
    return found


def described(found: list[dict]) -> str:
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']}\n  " + "\n  ".join(v["nodes"]) for v in found)
