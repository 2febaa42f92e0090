"""The production layout, installed as docs/operations.md tells an operator, behind a real nginx.

`mpanel install --root <tmp>` (the system user `mpanel` is created once on this machine, then
kept), the env file filled in, `mpanel db upgrade` and the catalogue made the operator's, then
`mpanel config check`; Debian's nginx with the installed site and a certificate from a test CA;
`mpanel serve` and `mpanel worker` run as `mpanel` with the exact ExecStart, WorkingDirectory and
EnvironmentFile of the units (systemd is not PID 1 here; `systemd-analyze verify` checks them).
A Stripe stand-in of its own delivers webhooks to nginx over HTTPS. Through nginx: the seed's
checkout, paid, to the welcome email; the staff login throttle and audit log see the client's
address (connecting from 127.0.0.5, not nginx's 127.0.0.1), a forged X-Forwarded-For is not
believed, and the app reached directly from an untrusted peer ignores the header.

The app and Pulumi state use databases of their own (fresh each run) on the suite's PostgreSQL;
every other server is the suite's. Nothing is left in /etc: the layout lives under tmp.
"""
from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import requests

from app.cli.config_check import read_env_file
from app.devtools.loopback import session_from
from tests.e2e.conftest import seed_payload
from tests.integration.mail.outbox import Outbox
from tests.polling import wait_for

CHECKOUT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path(NGINX).exists(),
                                reason="needs root (a system user, processes run as it) and Debian's nginx")


def _ports() -> dict[str, int]:
    base = int(os.environ.get("MPANEL_PORT_BASE", "26000"))
    return {"app": base + 901, "https": base + 902, "http": base + 903, "stripe": base + 904}


def client_at(address: str, ca: Path) -> requests.Session:
    http = session_from(address)  # a client that is neither nginx nor a trusted proxy
    http.verify = str(ca)
    http.trust_env = False  # REQUESTS_CA_BUNDLE (the suite's) would win over verify= otherwise
    return http


def _fresh_database(layout, name: str) -> str:
    with psycopg.connect(layout.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return name


def _unit_command(unit: Path) -> tuple[list[str], Path, Path]:
    """ExecStart, WorkingDirectory and EnvironmentFile, as systemd reads them."""
    fields = dict(line.split("=", 1) for line in unit.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return shlex.split(fields["ExecStart"]), Path(fields["WorkingDirectory"]), Path(fields["EnvironmentFile"])


def _as_mpanel(command: list[str], cwd: Path, env_file: Path, **kwargs) -> subprocess.Popen:
    """Started as systemd would: the unit's user, its env file and a plain PATH, nothing of ours."""
    entry = pwd.getpwnam("mpanel")
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": entry.pw_dir,
           "LANG": "C.UTF-8", **read_env_file(env_file)}
    env["HOME"] = env["MPANEL_STATE_DIR"]
    return subprocess.Popen(command, cwd=cwd, env=env, user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                            **kwargs)


def _run_as_mpanel(args: list[str], layout_files: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    command, cwd, env_file = _unit_command(layout_files["worker unit"])
    proc = _as_mpanel([command[0], "-m", "app.cli", *args], cwd, env_file, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(args, proc.returncode, out, "")


def _production_python(root: Path) -> Path:
    """A venv of Debian's python3 (readable by the mpanel user, unlike this one's interpreter under
    /root) that imports this checkout's dependencies: what /opt/mpanel/.venv is on a real host."""
    venv = root / "opt" / "mpanel" / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((Path(sys.prefix) / "lib").glob("python3*/site-packages"))
    [target] = list((venv / "lib").glob("python3*/site-packages"))
    (target / "mpanel-checkout.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def production(settings, layout):
    from tools.services.tls import ensure_local_ca

    ports = _ports()
    # Not pytest's tmp_path: its parents are 0700, and the mpanel user must reach the layout.
    root = Path(tempfile.mkdtemp(prefix="mpanel-production-"))
    os.chmod(root, 0o755)
    tls = root / "etc" / "ssl" / "mpanel"
    ca = ensure_local_ca(tls)  # a test CA; its server certificate names localhost and 127.0.0.1
    python = _production_python(root)

    # 1. the install, as docs/operations.md says
    done = subprocess.run([sys.executable, "-m", "app.cli", "install", "--root", str(root), "--server-name", "localhost",
                           "--app-port", str(ports["app"]), "--https-port", str(ports["https"]),
                           "--http-port", str(ports["http"]), "--tls-cert", str(tls / "server.pem"),
                           "--tls-key", str(tls / "server-key.pem"), "--python", str(python)],
                          capture_output=True, text=True, cwd=CHECKOUT, check=True)
    files = {m.group(1).strip(): Path(m.group(2)) for m in re.finditer(r"^(env|web unit|worker unit|nginx site)\s+(\S+)$",
                                                                      done.stdout, re.M)}
    env_file = files["env"]
    assert oct(env_file.stat().st_mode & 0o777) == "0o600" and env_file.stat().st_uid == pwd.getpwnam("mpanel").pw_uid
    values = read_env_file(env_file)
    assert values["MPANEL_ENV"] == "production" and values["APP_URL"] == f"https://localhost:{ports['https']}"
    assert values["MPANEL_ENCRYPTION_KEY"] and values["PULUMI_CONFIG_PASSPHRASE"] and not values["DATABASE_URL"]

    # the engine, built once per machine, where the units may read it (`mpanel setup --worker` would build it there)
    from stacks import install as engine_install

    cache = Path(values["MPANEL_CACHE_DIR"])
    for part in ("pulumi", "pulumi-command"):
        if not (cache / part).exists():
            subprocess.run(["cp", "-al", str(engine_install.cache_root() / part), str(cache / part)], check=True)
    # what the operator puts in /etc/mpanel beside the file: the sites' deploy key, the web server's host key
    etc = env_file.parent
    mpanel_uid = pwd.getpwnam("mpanel").pw_uid
    for source, name in ((settings.SITES_SSH_KEY_PATH, "sites_ssh_key"), (settings.SITES_SSH_HOST_KEY_FILE, "web1_host_key.pub"),
                         (settings.ACME_CA_BUNDLE, "acme-ca.pem")):
        shutil.copy(source, etc / name)
        os.chown(etc / name, mpanel_uid, -1)
        os.chmod(etc / name, 0o600)

    stripe_key, webhook_secret = "sk_test_mpanel_" + secrets.token_hex(8), "whsec_" + secrets.token_hex(16)
    app_db, pulumi_db = _fresh_database(layout, "mpanel_production_e2e"), _fresh_database(layout, "pulumi_production_e2e")
    from app.cli.install import set_env_values

    operator = {
        "DATABASE_URL": layout.database_url(app_db),
        "PULUMI_BACKEND_URL": layout.database_url(pulumi_db, "postgres") + "?sslmode=disable",
        "STRIPE_SECRET_KEY": stripe_key, "STRIPE_WEBHOOK_SECRET": webhook_secret,
        "STRIPE_API_BASE": f"http://127.0.0.1:{ports['stripe']}",
        "SITES_SSH_KEY_PATH": str(etc / "sites_ssh_key"), "SITES_SSH_HOST_KEY_FILE": str(etc / "web1_host_key.pub"),
        "ACME_CA_BUNDLE": str(etc / "acme-ca.pem"),
        "SMTP_FROM": "Example Hosting <noreply@example-hosting.test>",
        "MARKETING_SITE_URL": "https://example-hosting.test", "OPS_EMAIL": "ops@example-hosting.test",
        "NS1": "ns1.example-hosting.test", "NS2": "ns2.example-hosting.test",
        "MAIL_SERVER_HOST": "mail.example-hosting.test",
        # nginx connects from 127.0.0.1 only: the test's clients at 127.0.0.3/.5 are not proxies
        "MPANEL_TRUSTED_PROXIES": "127.0.0.1",
        "MPANEL_WORKER_CONCURRENCY": "1",
    }
    for name in ("MAILCORE_DATABASE_URL", "NAMESILO_API_KEY", "NAMESILO_API_URL", "NAMESILO_SANDBOX", "CPANEL_WHM_URL",
                 "CPANEL_WHM_API_TOKEN", "POWERDNS_API_URL", "POWERDNS_API_KEY", "POWERDNS_DNS_ADDRESS",
                 "ACME_DIRECTORY_URL", "ACME_MANAGEMENT_URL", "SMTP_HOST", "SMTP_PORT", "MAILCORE_MAIL_ROOT",
                 "IMAP_ADDRESS", "SSH_ADDRESS", "SITES_SSH_USER", "SITES_HOME_ROOT"):
        operator[name] = str(getattr(settings, name)).lower() if isinstance(getattr(settings, name), bool) \
            else str(getattr(settings, name))
    set_env_values(env_file, operator)
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    children: list[subprocess.Popen] = []
    nginx_conf = root / "nginx.conf"
    try:
        # the Stripe stand-in, trusting the test CA for its HTTPS deliveries to nginx
        children.append(subprocess.Popen(
            [sys.executable, "-m", "sandbox.stripe", "--port", str(ports["stripe"]), "--state-dir", str(root / "stripe"),
             "--key", stripe_key, "--webhook-url", f"https://localhost:{ports['https']}/api/webhooks/stripe",
             "--webhook-secret", webhook_secret], cwd=CHECKOUT,
            env={**os.environ, "REQUESTS_CA_BUNDLE": str(ca)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        # 2. the schema and the operator's catalogue; config check refuses the sandbox's first
        upgraded = _run_as_mpanel(["db", "upgrade"], files)
        assert upgraded.returncode == 0, upgraded.stdout
        refused = _run_as_mpanel(["config", "check", "--no-probe"], files)
        assert refused.returncode == 1 and "LAUNCH20" in refused.stdout and "web1.migrahosting.com" in refused.stdout, \
            refused.stdout
        for step in (["coupons", "retire", "LAUNCH20"], ["servers", "update", "1", "--hostname", "web1.example-hosting.test"]):
            result = _run_as_mpanel(step, files)
            assert result.returncode == 0, result.stdout
        checked = _run_as_mpanel(["config", "check", "--no-probe"], files)
        assert checked.returncode == 0, checked.stdout

        # 3. nginx with the installed site (Debian's nginx.conf includes sites-enabled/* the same way)
        nginx_conf.write_text(f"""pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log {root}/nginx-access.log;
    client_body_temp_path {root}/nginx-body;
    proxy_temp_path {root}/nginx-proxy;
    include {files['nginx site']};
}}
""")
        subprocess.run([NGINX, "-t", "-c", str(nginx_conf)], check=True, capture_output=True)
        subprocess.run([NGINX, "-c", str(nginx_conf)], check=True)

        # 4. the units' exact command lines, as the mpanel user
        for unit in ("web unit", "worker unit"):
            command, cwd, unit_env = _unit_command(files[unit])
            children.append(_as_mpanel(command, cwd, unit_env, stdout=open(root / f"{unit.split()[0]}.log", "w"),
                                       stderr=subprocess.STDOUT))
        http = client_at("127.0.0.5", ca)
        url = values["APP_URL"]

        def up():
            try:
                return http.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False
        wait_for(up, 120, "the app to answer through nginx")
        yield {"root": root, "files": files, "url": url, "ca": ca, "http": http, "env": read_env_file(env_file),
               "ports": ports, "stripe": f"http://127.0.0.1:{ports['stripe']}"}
    finally:
        if (root / "nginx.pid").exists():
            subprocess.run([NGINX, "-c", str(nginx_conf), "-s", "stop"], check=False)
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
        for name in ("web", "worker"):
            log = root / f"{name}.log"
            if log.exists():
                print(f"--- {name} log (tail)\n" + "\n".join(log.read_text().splitlines()[-30:]))
        if not os.environ.get("MPANEL_KEEP_PRODUCTION_ROOT"):  # to look at after a failure
            shutil.rmtree(root, ignore_errors=True)


def test_the_units_verify_and_harden(production):
    analyze = shutil.which("systemd-analyze")
    if analyze:
        units = [str(production["files"][u]) for u in ("web unit", "worker unit")]
        verified = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
        assert verified.returncode == 0, verified.stderr
    worker = production["files"]["worker unit"].read_text()
    for line in ("User=mpanel", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "ProtectHome=yes", "KillMode=mixed"):
        assert line in worker
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", worker, re.M).group(1))
    assert stop >= float(production["env"].get("MPANEL_RUN_TIMEOUT_SECONDS") or 900)


def test_a_paid_checkout_through_nginx_reaches_the_welcome_email(production, settings):
    http, url, env = production["http"], production["url"], production["env"]
    payload = seed_payload()
    created = http.post(f"{url}/api/marketing/checkout-intent", json=payload, timeout=30,
                        headers={"X-API-Key": env["MARKETING_API_KEY"]})
    assert created.status_code == 201, created.text
    body = created.json()
    paid = requests.post(f"{production['stripe']}/_sandbox/checkout/{body['checkoutSessionId']}/pay",
                         json={"card": "4242 4242 4242 4242"}, timeout=30)
    assert paid.status_code == 200, paid.text

    def ready():
        status = http.get(f"{url}/api/marketing/subscriptions/{body['subscriptionId']}/status", timeout=10,
                          headers={"X-API-Key": env["MARKETING_API_KEY"]}).json()
        return status if status.get("provisioningStatus") == "ready" else None
    status = wait_for(ready, 150, "the order provisioned (webhook delivered to nginx over HTTPS)", every=0.5)
    assert status["status"] == "active"
    deliveries = requests.get(f"{production['stripe']}/_sandbox/deliveries", timeout=10).json()["deliveries"]
    assert any(d.get("status") == "delivered" for d in deliveries), deliveries[:3]

    [email] = wait_for(lambda: Outbox(settings.SMTP_MAILDIR).to(payload["customer"]["email"], within=True), 60,
                       "the welcome email")
    assert url in email.get_body(("plain",)).get_content()
    assert "example-hosting.test" in email["From"]


def _failed_login(http: requests.Session, url: str, email: str, headers: dict | None = None) -> requests.Response:
    page = http.get(f"{url}/ops/login", timeout=10, headers=headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    # By hand: the cookie is Secure (APP_URL is https), which a client keeps off plain http.
    cookie = "; ".join(f"{name}={value}" for name, value in page.cookies.items())
    return http.post(f"{url}/ops/login", data={"csrf": csrf, "email": email, "password": "wrong-" + secrets.token_hex(4)},
                     timeout=10, headers={**(headers or {}), "Cookie": cookie})


def _attempts(env: dict, email: str) -> list[str]:
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        audited = [r[0] for r in conn.execute("SELECT address FROM staff_audit_log WHERE staff_email = lower(%s)", (email,))]
        tried = [str(r[0]) for r in conn.execute("SELECT address FROM staff_login_attempts WHERE email = lower(%s)", (email,))]
    return audited + tried


def test_the_app_sees_the_client_behind_nginx_and_ignores_forged_or_untrusted_headers(production):
    from app.services.common.throttle import RULES

    url, env, ca = production["url"], production["env"], production["ca"]
    # through nginx from 127.0.0.5: the client is 127.0.0.5, not nginx's 127.0.0.1
    email = f"nobody-{secrets.token_hex(3)}@example-hosting.test"
    assert _failed_login(production["http"], url, email).status_code == 401
    assert set(_attempts(env, email)) == {"127.0.0.5"}

    # a forged X-Forwarded-For through nginx is to the left of what nginx appended: not believed
    forged = f"forged-{secrets.token_hex(3)}@example-hosting.test"
    _failed_login(production["http"], url, forged, headers={"X-Forwarded-For": "198.51.100.77"})
    assert set(_attempts(env, forged)) == {"127.0.0.5"}

    # straight to the app from an untrusted peer: the header is ignored
    direct = f"direct-{secrets.token_hex(3)}@example-hosting.test"
    app = client_at("127.0.0.3", ca)
    _failed_login(app, f"http://127.0.0.1:{production['ports']['app']}", direct,
                  headers={"X-Forwarded-For": "198.51.100.78"})
    assert set(_attempts(env, direct)) == {"127.0.0.3"}

    # the throttle counts per real client: 127.0.0.6 is locked out after its failures, 127.0.0.7 is not
    throttled = client_at("127.0.0.6", ca)
    for _ in range(RULES["address"].free):
        _failed_login(throttled, url, f"t-{secrets.token_hex(3)}@example-hosting.test")
    locked = _failed_login(throttled, url, f"t-{secrets.token_hex(3)}@example-hosting.test")
    assert locked.status_code == 429 and "Too many attempts" in locked.text
    other = _failed_login(client_at("127.0.0.7", ca), url, f"o-{secrets.token_hex(3)}@example-hosting.test")
    assert other.status_code == 401


def test_https_headers_and_limits_through_nginx(production):
    http, url = production["http"], production["url"]
    page = http.get(f"{url}/login", timeout=10)
    assert "max-age=" in page.headers.get("Strict-Transport-Security", "")
    too_big = http.post(f"{url}/api/webhooks/stripe", data=b"x" * (2 * 1024 * 1024), timeout=10)
    assert too_big.status_code == 413
    plain = requests.get(f"http://localhost:{production['ports']['http']}/login", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"].startswith(f"{url}/login")
