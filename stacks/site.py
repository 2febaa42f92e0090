"""What the hosting program runs on a web server, through `pulumi_command.remote.Command`.

The starter page is published once and is the customer's from then on: it is never
overwritten, re-created after the customer removed it, or rewritten by a later converge
(the resource ignores changes of its script and content, and has no update or delete
command). The script is safe in a directory the customer controls:
- it runs as the account's own user when the login is a privileged one and that user
  exists on the server (`runuser`), so the customer's permissions bound what it can touch;
- it enters the document root once and refuses when the physical path differs from the
  expected one (a symlink anywhere in it), then works only with names relative to that
  directory, so swapping the directory for a symlink afterwards changes nothing;
- it writes to a fresh name made by `mktemp` (O_EXCL: never an existing file or symlink)
  and links it as index.html with `ln`, which fails rather than replace anything there,
  including a symlink.
"""
from __future__ import annotations

import shlex

# Exit status of a refusal (a symlink in the path, no document root): permanent, not retried by SSH.
REFUSED = 3
KEPT, PUBLISHED = "kept: index.html was already there", "published: index.html"


def publish_once_script(document_root: str, account_user: str) -> str:
    """The remote command that publishes stdin as <document_root>/index.html, once."""
    root, user = shlex.quote(document_root), shlex.quote(account_user)
    body = "; ".join([
        "set -eu",
        f"root={root}",
        f"cd -P -- \"$root\" 2>/dev/null || {{ echo \"no document root $root\" >&2; exit {REFUSED}; }}",
        f"[ \"$(pwd -P)\" = \"$root\" ] || {{ echo \"refusing: $root is reached through a symlink\" >&2; "
        f"exit {REFUSED}; }}",
        f"if [ -e index.html ] || [ -L index.html ]; then cat >/dev/null; echo {shlex.quote(KEPT)}; exit 0; fi",
        "tmp=$(mktemp .mpanel-starter.XXXXXXXX)",
        "trap 'rm -f -- \"$tmp\"' EXIT",
        "cat > \"$tmp\"",
        "chmod 644 \"$tmp\"",
        # ln never replaces: a file (or symlink) the customer put there meanwhile wins.
        f"if ln -- \"$tmp\" index.html 2>/dev/null; then echo {shlex.quote(PUBLISHED)}; "
        f"else echo {shlex.quote(KEPT)}; fi",
    ])
    return (f"if [ \"$(id -u)\" = 0 ] && id -u {user} >/dev/null 2>&1; then "
            f"exec runuser -u {user} -- sh -c {shlex.quote(body)}; fi; {body}")
