"""The customer's domains once ordered: what the panel shows and the auto-renew and lock choices
(`domain_state`), the registrar's view brought back (`registrar_sync`), the live delegation
check (`delegation`) and the customer's own DNS records (`dns_editor`).
May import `hosting`, `customers` and `common`.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("claims", "dns_editor", "domain_state", "proof", "registrar_sync")
