"""SQL of the hosting area: subscriptions (read by the converge, written by orders: so here,
below orders), engine runs and their outcome (`runs`), web servers, moves, specs, mailboxes and
worker liveness.

`PUBLIC` names the modules services of other areas and the jobs, mail and CLI layers may import;
the services of the same area may import any module here. Imports nothing.
"""

PUBLIC = ("moves", "runs", "subscriptions")
