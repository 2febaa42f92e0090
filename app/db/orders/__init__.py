"""SQL of the orders area: an order's rows (`orders`), the catalogue (`plans`), payments, Stripe
events as received (`stripe_events`), the customer's billing page (`customer_billing`) and the
eligibility queries (`eligibility`).

`PUBLIC` names the modules services of other areas and the jobs, mail and CLI layers may import;
the services of the same area may import any module here. Imports nothing.
"""

PUBLIC = ("catalogue", "stripe_events")
