"""SQL of what every area shares: the login throttle's counters (`throttle`).

`PUBLIC` names the modules other areas and the web, jobs and CLI layers may import
(tests/unit/test_layers.py holds them to it); this file imports nothing, so no cycle can start here.
"""

PUBLIC = ("throttle",)
