"""The hosting program: one `HostingAccount` per subscription, a pure function of its spec.

Dependency order (why each edge exists):
- the account before the zone: its A records point at the address WHM gave the account
  (the account itself needs nothing of the zone, so the graph stays acyclic);
- the zone before the certificate: DNS-01 challenges are written into it;
- the zone before the registration: the registrar delegates to nameservers that must answer;
- the certificate and the account before the TLS installation on the account;
- the zone (its DKIM key, MX) before the mail domain, the mail domain before mailboxes;
- the account before the starter page: the page goes into the account's document root.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jinja2
import pulumi
from pulumi_command import remote

# pulumi_command loads `remote` on first attribute access, and Python 3.11's lazy loader is not
# thread-safe: two converges starting at once in a fresh worker (or `bench scale`) saw a
# half-loaded module ("has no attribute 'Command'"). Loaded here, under the import lock.
remote.Command

from providers.resources.certificate import Certificate
from providers.resources.mail_domain import MailDomain
from providers.resources.mailbox import Mailbox
from providers.resources.domain_registration import DomainRegistration
from providers.resources.dns_zone import DnsZone
from providers.resources.whm_account import WhmAccount
from providers.resources.whm_ssl import WhmSsl
from stacks.site import publish_once_script
from stacks.spec import HostingSpec

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=True, keep_trailing_newline=True)


def starter_page(spec: HostingSpec) -> str:
    return _TEMPLATES.get_template("sites/starter.html").render(
        domain=spec.domain, plan_name=spec.plan_slug.replace("_", " ").title(), server_hostname=spec.server_hostname)


class HostingAccount(pulumi.ComponentResource):
    def __init__(self, spec: HostingSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mpanel:hosting:Account", spec.domain, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Every upstream object is marked with its stack: a create adopts only what carries it.
        owner = spec.stack_name
        # An imported account's objects are taken over as they are, on its first run only.
        takeover = True if spec.take_over else None

        def after(*deps) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(deps))

        self.account = WhmAccount(
            "account", domain=spec.domain, plan=spec.whm_package, quota_mb=spec.disk_quota_mb,
            contact_email=spec.customer_email, suspended=spec.suspended,
            suspend_reason=spec.suspend_reason if spec.suspended else None,
            # None until the first reset: the creation password needs no version.
            password_version=spec.cpanel_password_resets or None, owner=owner,
            # The server's id only: its WHM credentials reach the provider by id (providers.core.config).
            server=spec.whm_server, takeover=takeover, opts=child)

        # The address WHM put the account on is the truth the A records (and the welcome email)
        # follow; the servers row's address only stands in when WHM reports none. A refresh that
        # sees the account moved changes this, and the next `up` moves the records.
        self.server_ip = self.account.ip.apply(lambda ip: ip or spec.server_ip)
        self.zone = DnsZone(
            "zone", domain=spec.domain, server_ip=self.server_ip, mail_host=spec.mail_host,
            nameservers=list(spec.nameservers),
            records=[{"name": r.name, "type": r.type, "content": r.content, "ttl": r.ttl} for r in spec.records],
            # The web follows the same proof as mail: a domain not proven the customer's is not
            # sent to the account by our nameservers (app/services/domains/proof.py).
            web_published=spec.mail_routable, owner=owner, takeover=takeover, opts=child)

        self.registration = None
        if spec.domain_mode in ("new_registration", "transfer"):
            self.registration = DomainRegistration(
                "registration", domain=spec.domain, mode=spec.domain_mode,
                auth_code=pulumi.Output.secret(spec.auth_code) if spec.auth_code else None,
                nameservers=list(spec.nameservers), auto_renew=spec.domain_auto_renew,
                lock=spec.domain_lock, owner=owner, takeover=takeover,
                opts=after(self.zone))

        # An imported account's certificate is the one installed on it, when that can serve on.
        self.certificate = Certificate("certificate", domain=spec.domain, alt_names=[f"www.{spec.domain}"],
                                       server=spec.whm_server if takeover else None, takeover=takeover,
                                       opts=after(self.zone))

        # The account's id is its username, and unlike the username output it stays known
        # while an in-place update (a plan change) is previewed: no spurious replacements.
        cpanel_user = self.account.id
        self.tls = WhmSsl(
            "tls", domain=spec.domain, username=cpanel_user,
            certificate_pem=self.certificate.certificate_pem, private_key_pem=self.certificate.private_key_pem,
            chain_pem=self.certificate.chain_pem, force_https=True, server=spec.whm_server, takeover=takeover,
            opts=after(self.account, self.certificate))

        self.mail_domain = MailDomain("mail-domain", domain=spec.domain, dkim_private_key=self.zone.dkim_private_key,
                                      dkim_selector=self.zone.dkim_selector, owner=owner,
                                      routable=spec.mail_routable, takeover=takeover, opts=after(self.zone))
        self.mailboxes = {
            m.local_part: Mailbox(f"mailbox-{m.local_part}", address=f"{m.local_part}@{spec.domain}",
                                  quota_mb=m.quota_mb, generation=m.row_id, owner=owner, takeover=takeover,
                                  opts=after(self.mail_domain),
                                  password=pulumi.Output.secret(m.password) if m.password else None)
            for m in spec.mailboxes
        }

        self.starter_page = None if spec.imported else self._starter_page(spec, cpanel_user)

        admin = self.mailboxes.get("admin")
        self.outputs = {
            "cpanel_url": self.account.cpanel_url,
            "cpanel_username": self.account.username,
            # Secret here as well as by additional_secret_outputs: the stack output must never
            # depend on a provider remembering to mark it.
            "cpanel_password": pulumi.Output.secret(self.account.password),
            "nameservers": list(spec.nameservers),
            "certificate_not_after": self.certificate.not_after,
            "mailbox_address": admin.address if admin else None,
            "mailbox_password": pulumi.Output.secret(admin.password) if admin else None,
            "server_ip": self.server_ip,
            "domain": spec.domain,
            "registration_status": self.registration.status if self.registration else "external",
        }
        self.register_outputs(self.outputs)

    def _starter_page(self, spec: HostingSpec, cpanel_user) -> remote.Command:
        # Published once, as the account's own user, through the design card's remote.Command
        # (stacks/site.py says how it never overwrites, re-creates or follows a symlink).
        # Never for an imported account: its site is the customer's already.
        host, _, port = spec.ssh_address.rpartition(":")
        script = cpanel_user.apply(lambda user: publish_once_script(
            f"{spec.site_home_root.rstrip('/')}/{user}/public_html", user))
        return remote.Command(
            "starter-page",
            connection=remote.ConnectionArgs(
                host=host, port=float(port or 22), user=spec.site_ssh_user or cpanel_user,
                private_key=pulumi.Output.secret(spec.ssh_private_key) if spec.ssh_private_key else None,
                host_key=spec.ssh_host_key, dial_error_limit=3, per_dial_timeout=10),
            create=script, stdin=starter_page(spec),
            # The page is the customer's once published: a new template, login or address
            # must never run it again (and there is no update or delete command to run).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.account],
                                        ignore_changes=["create", "stdin", "connection"]))


def program_for(spec: HostingSpec, on_exported: Callable[[dict[str, Any]], None] | None = None):
    """The inline program the Automation API runs for this spec. `on_exported` receives what
    the program exports once an `up` resolved it, secrets plain, in this process: the caller
    hands the welcome email its passwords without asking the CLI again (~0.7 s of a customer's
    wait for their welcome)."""

    def program() -> None:
        account = HostingAccount(spec)
        for key, value in account.outputs.items():
            pulumi.export(key, value)
        if on_exported:
            pulumi.Output.all(**account.outputs).apply(on_exported)

    return program
