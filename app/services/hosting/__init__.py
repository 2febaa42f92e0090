"""The hosting: the converge of a subscription and its run bookkeeping (`converge`, its outcomes
in `errors`), the engine's configuration (`engine`), the desired state from rows (`specs`), drift
(`drift`), the web servers, placement on them and moves between them (`servers`, `placement`,
`moves`), worker liveness (`workers`), WHM's own suspensions recorded (`whm_suspensions`), account backups, mailboxes and one-click cPanel login.
May import `customers` and `common`.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = (
    "account_backups", "converge", "drift", "engine", "errors", "hosting_login", "mailboxes", "moves", "placement",
    "servers", "specs", "stalled_jobs", "welcome_logins", "whm_suspensions", "workers",
)
