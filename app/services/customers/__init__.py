"""The customers: logging in, the dashboard and first-time wizard (`accounts`), and the customer's
own account: password, email change, one-time links, sessions (`customer_account`), and "is this
the customer's site", asked by every service a customer reaches (`sites`), the optional second
factor (`two_factor`) and the per-customer limits on actions that spend an upstream's quota (`limits`).
May import `common` only.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("accounts", "customer_account", "limits", "sites", "two_factor")
