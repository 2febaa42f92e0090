"""`mpanel chaos`: paid orders through redeliveries, forgeries, SIGKILLs and outages.

command: the run and its figures; stripe: checkouts and webhook deliveries; system: the
processes killed and the servers held down; checks: the invariants checked afterwards.
"""
