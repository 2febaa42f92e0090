"""SQL of the domains area: the customer's domain state and choices (`domain_state`) and their
own DNS records (`dns_records`).

`PUBLIC` names the modules services of other areas and the jobs, mail and CLI layers may import;
the services of the same area may import any module here. Imports nothing.
"""

PUBLIC = ()
