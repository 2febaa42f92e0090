"""Orders and billing: the checkout and its payload (`checkout`, `validation`), whether a domain
may be ordered (`eligibility`), an order's rows (`orders`), the subscription lifecycle (pure
rules in `lifecycle_rules`, applied by `lifecycle`), Stripe reads (`billing`) and the customer's
billing page and plan changes (`customer_billing`).
May import `domains`, `hosting`, `customers` and `common`.

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = (
    "billing", "checkout", "customer_billing", "eligibility", "lifecycle", "lifecycle_rules", "orders",
    "validation",
)
