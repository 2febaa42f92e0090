"""A second web server for tests: a WHM stand-in and an OpenSSH server of its own.

The session's local servers (tools/services) are web server A: CPANEL_WHM_URL, SSH_ADDRESS,
SITES_HOME_ROOT. Web server B runs on ports of its own (port base + `offsets`, by default 587 and
522): the WHM stand-in in this process (its accounts get the address 192.0.2.20, A's get
192.0.2.10) and sshd with its own host key, publishing into B's homes; the deploy key is the
session's. Used by tests/integration/servers and the console's browser tests (other offsets, so
both may run in one session).
"""
from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

B_ACCOUNT_IP = "192.0.2.20"


@dataclass
class WebServerB:
    whm_url: str
    token: str
    ssh_address: str
    host_key: str
    home_root: Path
    ip: str = B_ACCOUNT_IP


def running_web_server_b(settings, layout, offsets: tuple[int, int] = (587, 522),
                         folder: str = "web-b") -> Iterator[WebServerB]:
    from werkzeug.serving import make_server

    from sandbox.whm.app import create_app

    root = layout.root / folder
    shutil.rmtree(root, ignore_errors=True)
    (root / "whm" / "backups").mkdir(parents=True)  # where its WHM restores archives from (cPanel: /home)
    token = secrets.token_hex(16).upper()
    whm_port, ssh_port = layout.port_base + offsets[0], layout.port_base + offsets[1]
    app = create_app(root / "whm" / "state.sqlite3", token, server_ip=B_ACCOUNT_IP,
                     mail_root=settings.MAILCORE_MAIL_ROOT)
    http = make_server("127.0.0.1", whm_port, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    ssh_dir = root / "ssh"
    ssh_dir.mkdir()
    host_key = ssh_dir / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mpanel-web-b", "-f", str(host_key)],
                   check=True)
    (ssh_dir / "authorized_keys").write_text(Path(settings.SITES_SSH_KEY_PATH + ".pub").read_text())
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    (ssh_dir / "sshd_config").write_text("\n".join([
        f"Port {ssh_port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {ssh_dir / 'sshd.pid'}",
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}", "PermitRootLogin prohibit-password",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", ""]))
    sshd = subprocess.Popen([shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(ssh_dir / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from tests.polling import wait_for

    def ssh_up() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", ssh_port), timeout=2) as conn:
                return conn.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False

    wait_for(ssh_up, deadline=20, what="the second web server's sshd")
    try:
        # "localhost", not 127.0.0.1: the cPanel address derived from it then differs from A's.
        yield WebServerB(whm_url=f"http://localhost:{whm_port}", token=token, ssh_address=f"127.0.0.1:{ssh_port}",
                         host_key=(host_key.with_suffix(".pub")).read_text().strip(), home_root=root / "whm" / "home")
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        http.shutdown()


def sell_only_on(settings, server_b: WebServerB, name: str) -> int:
    """A server group `name` whose only server is B, and a plan `name` selling it: B's id."""
    from app import db
    from app.services.hosting import servers

    with db.transaction(settings.DATABASE_URL) as conn:
        conn.execute("INSERT INTO server_groups (name) VALUES (%s)", (name,))
        conn.execute(
            "INSERT INTO plans (slug, name, whm_package, disk_quota_mb, bandwidth_mb, mailbox_count, "
            "price_monthly_cents, price_yearly_cents, server_group) "
            "VALUES (%s, 'On B', 'mpanel_student', 5120, 51200, 5, 299, 2990, %s)", (name, name))
    return servers.add_server(settings, servers.ServerInput(
        name=f"web-b-{name}", hostname=f"web-b.{name}.example.net", ip_address="127.0.0.1",
        whm_url=server_b.whm_url, whm_token=server_b.token, ssh_address=server_b.ssh_address,
        ssh_host_key=server_b.host_key, home_root=str(server_b.home_root), capacity=10,
        archive_dir=str(server_b.home_root.parent / "backups"), server_group=name))
