"""What every stand-in shares: serving, the state database, faults, the control API, request logs.

Nothing here knows a protocol: each stand-in renders its own envelopes and errors and
hands them to these pieces (``FaultRegistry.answer`` takes a ``refuse`` callback for that).
"""
