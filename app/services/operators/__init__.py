"""The operators: staff accounts and sessions (`staff`), who may do what
(`staff_roles`), what the console shows (`console`) and the actions it takes (`console_actions`),
the sync report of a server against its upstreams (`sync_report`) and the import of accounts
another system left there (`imports`).
May import every other area.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("console", "console_actions", "console_attention", "console_servers", "console_staff", "imports", "staff",
          "staff_roles", "sync_report")
