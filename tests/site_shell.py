"""The local web server as an operator reaches it: SSH with its host key pinned."""
from __future__ import annotations

import subprocess
from pathlib import Path


def over_ssh(settings, command: str) -> subprocess.CompletedProcess:
    """What the web server says, asked the way an operator would (host key pinned)."""
    host, _, port = settings.SSH_ADDRESS.rpartition(":")
    known = Path(settings.SITES_SSH_KEY_PATH).with_name("known_hosts_for_tests")
    known.write_text(f"[{host}]:{port} {Path(settings.SITES_SSH_HOST_KEY_FILE).read_text()}")
    return subprocess.run(["ssh", "-p", port, "-i", settings.SITES_SSH_KEY_PATH, "-o", "BatchMode=yes",
                           "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
                           f"{settings.SITES_SSH_USER}@{host}", command], capture_output=True, text=True, timeout=30)
