"""SQL of the customers area: customers and their users (`customers`), one-time account links
(`account_tokens`), the customer's own website rows (`websites`), and "is this the user's site"
(`sites`, the one query that answers it).

`PUBLIC` names the modules services of other areas and the jobs, mail and CLI layers may import;
the services of the same area may import any module here. Imports nothing.
"""

PUBLIC = ("customers", "sites", "websites")
