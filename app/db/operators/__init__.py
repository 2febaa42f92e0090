"""SQL of the operators area: staff accounts, sessions, login attempts and the audit log
(`staff`) and what the console reads (`ops`).

`PUBLIC` names the modules services of other areas and the jobs, mail and CLI layers may import;
the services of the same area may import any module here. Imports nothing.
"""

PUBLIC = ("ops",)
