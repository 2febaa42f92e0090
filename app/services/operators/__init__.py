"""The operators: staff accounts and sessions (`staff`), who may do what
(`staff_roles`), what the console shows (`console`) and the actions it takes (`console_actions`).
May import every other area.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("console", "console_actions", "console_attention", "console_servers", "console_staff", "staff",
          "staff_roles")
