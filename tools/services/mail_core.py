"""The mail core's SMTP front (local sandbox): where other tenants' mail, and our own, arrives.

For each recipient it asks the mail-core database whether the domain is local
(LOCAL_DOMAIN_QUERY below: a mail domain that is `routable`). Local mail
is handed to Dovecot's delivery agent (dovecot-lda), which files it in the mailbox the customer
reads over IMAP; anything else, including a hosted domain whose control is not proven yet, is
relayed out to the outbound relay as for any foreign domain, so it reaches whoever really owns
the domain. The production mail core (Postfix or Exim) asks the same query for its local
domains.
"""
from __future__ import annotations

import argparse
import smtplib
import subprocess

import psycopg
from aiosmtpd.controller import Controller

from tools.services.smtp_serving import serve_until_stopped

# The mail core's lookup for local delivery, over its own database (tools/services/mailcore.sql),
# written by the mail domain provider (providers/resources/mail_domain.py, input `routable`).
LOCAL_DOMAIN_QUERY = "SELECT 1 FROM mail_domains WHERE name = %s AND routable"


class RouteByDomain:
    def __init__(self, dsn: str, lda: list[str], relay: tuple[str, int]):
        self.dsn, self.lda, self.relay = dsn, lda, relay

    def is_local(self, domain: str) -> bool:
        with psycopg.connect(self.dsn, connect_timeout=5) as conn:
            return conn.execute(LOCAL_DOMAIN_QUERY, (domain.lower(),)).fetchone() is not None

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        foreign = []
        for rcpt in envelope.rcpt_tos:
            if self.is_local(rcpt.rpartition("@")[2]):
                delivered = subprocess.run([*self.lda, "-d", rcpt.lower(), "-f", envelope.mail_from or ""],
                                           input=raw.replace(b"\r\n", b"\n"), capture_output=True, timeout=30)
                if delivered.returncode != 0:
                    print(f"delivery to {rcpt} failed: {delivered.stderr.decode(errors='replace')}", flush=True)
                    return "451 Local delivery failed, try again later"
            else:
                foreign.append(rcpt)
        if foreign:
            with smtplib.SMTP(*self.relay, timeout=30) as smtp:
                smtp.sendmail(envelope.mail_from or "", foreign, raw)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--dovecot-config", required=True)
    parser.add_argument("--relay", required=True, help="host:port of the outbound relay")
    args = parser.parse_args(argv)
    host, _, port = args.relay.rpartition(":")
    lda = ["/usr/lib/dovecot/dovecot-lda", "-c", args.dovecot_config]
    controller = Controller(RouteByDomain(args.database, lda, (host, int(port))), hostname="127.0.0.1",
                            port=args.port, server_hostname="mailcore.mpanel.local")
    serve_until_stopped(controller, f"mail core SMTP on 127.0.0.1:{args.port}, relaying foreign mail to {args.relay}")


if __name__ == "__main__":
    main()
