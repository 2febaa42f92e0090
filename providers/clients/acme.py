"""An ACME CA (Let's Encrypt; pebble locally) as mpanel speaks it: `AcmeClient`, issuing by DNS-01.

The challenge answers go into the domain's own PowerDNS zone (providers/clients/powerdns.py),
so a certificate needs nothing from the web server and can be issued before the site exists.
The acme library's and requests' exceptions become `ProviderError` here (`acme_failures`);
revocation is signed with the certificate's own key, so it works whatever account issued it.
Whether the CA has revoked a certificate is asked of its management API when
ACME_MANAGEMENT_URL is set (pebble's /cert-status-by-serial); a public CA has no such lookup.
Used by the certificate provider (providers/resources/certificate.py).
"""
from __future__ import annotations

import datetime
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import josepy as jose
import requests
from acme import challenges, client as acme_client, crypto_util, errors as acme_errors, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from providers.clients.powerdns import PowerDnsClient
from providers.core.config import ProviderConfig
from providers.core.errors import ProviderError
from providers.core.http import TRANSIENT_STATUSES, http
from providers.core.retry import DEFAULT_RETRY, RetryPolicy
from providers.rules.names import canonical

PROVIDER = "acme"
log = logging.getLogger(__name__)

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa4096")
DEFAULT_KEY_TYPE = "ec256"
# How long one issuance may take from new order to certificate, and how long the new TXT
# records may take to show up on the authoritative server.
ORDER_DEADLINE = 120.0
PUBLISH_DEADLINE = 30.0
NETWORK_TIMEOUT = 30
REVOKE_REASON = 5  # cessationOfOperation
# ACME problem types worth another try; every other problem is final.
RETRYABLE_PROBLEMS = {"serverInternal", "rateLimited", "badNonce", "connection", "dns"}


def utcnow() -> datetime.datetime:
    """The clock every renewal decision reads (tests move it instead of waiting)."""
    return datetime.datetime.now(datetime.timezone.utc)


def challenge_txt_value(challb: messages.ChallengeBody, account_key: jose.JWK) -> str:
    """The TXT value that answers a DNS-01 challenge (base64url SHA-256 of the key authorization)."""
    return challb.chall.validation(account_key)


# --- keys and certificates -----------------------------------------------------------------------

def new_private_key_pem(key_type: str) -> bytes:
    if key_type == "ec256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "ec384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif key_type in ("rsa2048", "rsa4096"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    else:
        raise ValueError(f"unknown key type {key_type!r}")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _jwk(private_key) -> tuple[jose.JWK, jose.JWASignature]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return jose.JWKRSA(key=private_key), jose.RS256
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        alg = {256: jose.ES256, 384: jose.ES384, 521: jose.ES512}[private_key.curve.key_size]
        return jose.JWKEC(key=private_key), alg
    raise ProviderError(PROVIDER, f"unsupported key type {type(private_key).__name__}")


def describe(fullchain_pem: str) -> dict:
    """The outputs that follow from the certificate itself."""
    certs = x509.load_pem_x509_certificates(fullchain_pem.encode())
    leaf = certs[0]
    pem = [c.public_bytes(serialization.Encoding.PEM).decode() for c in certs]
    return {
        "serial": format(leaf.serial_number, "x"),
        "certificate_pem": pem[0],
        "chain_pem": "".join(pem[1:]),
        "fullchain_pem": "".join(pem),
        "not_after": iso(leaf.not_valid_after_utc),
        "issuer": leaf.issuer.rfc4514_string(),
    }


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def renewal_due(not_after: str, renew_before_days: int) -> bool:
    return parse_iso(not_after) - utcnow() < datetime.timedelta(days=int(renew_before_days))


# --- the ACME client -----------------------------------------------------------------------------

@contextmanager
def acme_failures(doing: str) -> Iterator[None]:
    """Translate the acme library's and requests' exceptions into ProviderError at the boundary."""
    try:
        yield
    except ProviderError:
        raise
    except requests.Timeout:
        raise ProviderError(PROVIDER, f"timed out {doing}", retryable=True) from None
    except requests.RequestException as exc:
        raise ProviderError(PROVIDER, f"cannot reach the ACME server {doing}: {type(exc).__name__}",
                            retryable=True) from None
    except messages.Error as exc:
        raise ProviderError(PROVIDER, f"the CA refused {doing}: {problem_text(exc)}", code=exc.typ,
                            retryable=exc.code in RETRYABLE_PROBLEMS) from None
    except acme_errors.TimeoutError:
        raise ProviderError(PROVIDER, f"the CA did not finish {doing} within {ORDER_DEADLINE:.0f}s",
                            retryable=True) from None
    except acme_errors.IssuanceError as exc:
        raise ProviderError(PROVIDER, f"the CA would not issue the certificate: {problem_text(exc.error)}",
                            code=exc.error.typ) from None
    except acme_errors.Error as exc:
        raise ProviderError(PROVIDER, f"ACME failure {doing}: {type(exc).__name__} {exc}") from None


def problem_text(problem: messages.Error) -> str:
    return problem.detail or problem.title or problem.description or str(problem.typ)


def _refuse_transient(response: requests.Response, *_args, **_kwargs) -> None:
    """requests hook: a 5xx/429 from the CA is a retryable failure, whatever its body says."""
    if response.status_code in TRANSIENT_STATUSES:
        detail = ""
        try:
            detail = ": " + str(response.json().get("detail") or "")
        except ValueError:
            pass
        raise ProviderError(PROVIDER, f"ACME server answered {response.status_code} {response.reason}{detail}",
                            status=response.status_code, retryable=True)


def _network(private_key, config) -> acme_client.ClientNetwork:
    jwk, alg = _jwk(private_key)
    net = acme_client.ClientNetwork(jwk, alg=alg, verify_ssl=config.ACME_CA_BUNDLE or True,
                                    user_agent="mpanel", timeout=NETWORK_TIMEOUT)
    net.session.hooks["response"].append(_refuse_transient)
    return net


def _directory(config, net: acme_client.ClientNetwork) -> messages.Directory:
    if not config.ACME_DIRECTORY_URL:
        raise ProviderError(PROVIDER, "ACME_DIRECTORY_URL is not configured")
    return acme_client.ClientV2.get_directory(config.ACME_DIRECTORY_URL, net)


def account_key_path(config: ProviderConfig) -> Path:
    if not config.ACME_ACCOUNT_KEY_PATH:
        raise ProviderError(PROVIDER, "ACME_ACCOUNT_KEY_PATH is not configured")
    return Path(config.ACME_ACCOUNT_KEY_PATH)


def load_account_key(path: Path):
    """The ACME account key, created (P-256, mode 0600) on first use; safe when workers race."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".acme-account-")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.link(tmp, path)  # fails if another worker got there first: then use theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def open_account(config) -> tuple[acme_client.ClientV2, jose.JWK]:
    """A client registered (terms agreed) with the account key; an existing account is reused."""
    net = _network(load_account_key(account_key_path(config)), config)
    with acme_failures("registering the ACME account"):
        client = acme_client.ClientV2(_directory(config, net), net)
        try:
            client.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
        except acme_errors.ConflictError as exists:
            net.account = messages.RegistrationResource(uri=exists.location, body=messages.Registration())
    return client, net.key


# --- issuance ------------------------------------------------------------------------------------

class AcmeClient:
    """The ACME CA at the configured directory, answering DNS-01 through the configured PowerDNS."""

    def __init__(self, config: ProviderConfig, retry: RetryPolicy = DEFAULT_RETRY, timeout: float = NETWORK_TIMEOUT):
        self.config = config
        self.retry = retry
        self.timeout = timeout

    def issue(self, domain: str, alt_names: list[str], key_type: str, *, clock=time.monotonic,
              sleep=time.sleep) -> dict:
        """One certificate for domain + alt_names; returns the certificate outputs."""
        return issue(self.config, domain, alt_names, key_type, dns_client=PowerDnsClient(self.config, self.retry),
                     clock=clock, sleep=sleep)

    def revoke(self, outputs: dict) -> None:
        revoke(self.config, outputs)

    def revoked_at_ca(self, serial: str) -> bool | None:
        return revoked_at_ca(self.config, serial)


def issue(config: ProviderConfig, domain: str, alt_names: list[str], key_type: str, *,
          dns_client: PowerDnsClient, clock=time.monotonic, sleep=time.sleep) -> dict:
    """One certificate for domain + alt_names; returns the certificate outputs."""
    names = list(dict.fromkeys([domain, *alt_names]))
    zones = {name: _zone_of(name, dns_client) for name in names}
    key_pem = new_private_key_pem(key_type)
    client, account_key = open_account(config)
    give_up_at = clock() + ORDER_DEADLINE

    with acme_failures(f"ordering a certificate for {', '.join(names)}"):
        order = client.new_order(crypto_util.make_csr(key_pem, names))
        pending = [a for a in order.authorizations if a.body.status == messages.STATUS_PENDING]
        # Pebble and Let's Encrypt reuse an authorization this account already validated.
        answers = [(authz, _dns01(authz)) for authz in pending]
        txt: dict[tuple[str, str], list[str]] = {}
        for authz, challb in answers:
            ident = authz.body.identifier.value
            name = canonical(challb.chall.validation_domain_name(ident))
            txt.setdefault((zones.get(ident) or _zone_of(ident, dns_client), name), []).append(
                challenge_txt_value(challb, account_key))
        published: list[tuple[str, str]] = []
        try:
            # Every value for one name goes into its rrset before any challenge is answered.
            for (zone, name), values in txt.items():
                published.append((zone, name))
                dns_client.set_txt(zone, name, values)
            _wait_until_served(config, txt, clock=clock, sleep=sleep)
            for _authz, challb in answers:
                client.answer_challenge(challb, challb.chall.response(account_key))
            validated = [_validated(client, authz, give_up_at, clock, sleep) for authz, _ in answers]
            order = order.update(authorizations=[a for a in order.authorizations
                                                 if a.body.status != messages.STATUS_PENDING] + validated)
            order = _finalize(client, order, give_up_at, clock, sleep)
        finally:
            for zone, name in published:
                try:
                    dns_client.clear_txt(zone, name)
                except ProviderError as exc:
                    # A stale challenge TXT is harmless (the next issuance replaces it);
                    # failing here would lose a certificate that was issued.
                    log.warning("could not remove challenge TXT %s: %s", name, exc)
    return {**describe(order.fullchain_pem), "private_key_pem": key_pem.decode()}


def _finalize(client: acme_client.ClientV2, order: messages.OrderResource, give_up_at: float, clock,
              sleep) -> messages.OrderResource:
    """Finalize and fetch the certificate, polling from 50 ms up.

    The library's finalize_order sleeps a full second before its first poll, which was
    most of an issuance's time against a CA that answers in milliseconds.
    """
    client.begin_finalization(order)
    delay = 0.05
    while clock() < give_up_at:
        body = messages.Order.from_json(client._post_as_get(order.uri).json())
        if body.status == messages.STATUS_VALID and body.certificate is not None:
            return order.update(body=body, fullchain_pem=client._post_as_get(body.certificate).text)
        if body.status == messages.STATUS_INVALID:
            if body.error is not None:
                raise acme_errors.IssuanceError(body.error)
            raise acme_errors.Error("the CA refused to issue the certificate and gave no reason")
        sleep(delay)
        delay = min(delay * 2, 1.0)
    raise acme_errors.TimeoutError()


def _zone_of(name: str, dns_client: PowerDnsClient) -> str:
    zone = dns_client.zone_for(name.removeprefix("*."))
    if zone is None:
        raise ProviderError(PROVIDER, f"no DNS zone in PowerDNS serves {name}: its zone must exist before "
                            "a certificate can be validated by DNS-01", code="zone_not_found")
    return zone


def _dns01(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
    for challb in authz.body.challenges:
        if isinstance(challb.chall, challenges.DNS01):
            return challb
    raise ProviderError(PROVIDER, f"the CA offers no dns-01 challenge for {authz.body.identifier.value}",
                        code="no_dns01")


def _wait_until_served(config, txt: dict, *, clock, sleep) -> None:
    """Poll the authoritative server until it serves the new values (caches may lag the API)."""
    if not config.POWERDNS_DNS_ADDRESS:
        return
    host, _, port = config.POWERDNS_DNS_ADDRESS.rpartition(":")
    give_up_at, delay = clock() + PUBLISH_DEADLINE, 0.05
    for (_zone, name), values in txt.items():
        while not set(values) <= _served_txt(host, int(port), name):
            if clock() + delay > give_up_at:
                raise ProviderError(PROVIDER, f"{name} TXT not served by {config.POWERDNS_DNS_ADDRESS} "
                                    f"within {PUBLISH_DEADLINE:.0f}s", retryable=True)
            sleep(delay)
            delay = min(delay * 2, 1.0)


def _served_txt(host: str, port: int, name: str) -> set[str]:
    try:
        answer = dns.query.udp(dns.message.make_query(name, "TXT"), host, port=port, timeout=2)
    except (OSError, dns.exception.DNSException):
        return set()
    return {b"".join(rdata.strings).decode(errors="replace")
            for rrset in answer.answer if rrset.rdtype == dns.rdatatype.TXT for rdata in rrset}


def _validated(client: acme_client.ClientV2, authz: messages.AuthorizationResource, give_up_at: float,
               clock, sleep) -> messages.AuthorizationResource:
    """Poll one authorization until the CA has decided; a refusal is final."""
    delay = 0.05
    while authz.body.status == messages.STATUS_PENDING:
        if clock() + delay > give_up_at:
            raise ProviderError(PROVIDER, f"the CA did not validate {authz.body.identifier.value} within "
                                f"{ORDER_DEADLINE:.0f}s", retryable=True)
        sleep(delay)
        delay = min(delay * 2, 1.0)
        authz, _ = client.poll(authz)
    if authz.body.status != messages.STATUS_VALID:
        ident = authz.body.identifier.value
        problem = next((c.error for c in authz.body.challenges if c.error is not None), None)
        if problem is None:
            raise ProviderError(PROVIDER, f"DNS-01 validation failed for {ident}: authorization is "
                                f"{authz.body.status}", code=str(authz.body.status))
        raise ProviderError(PROVIDER, f"DNS-01 validation failed for {ident}: {problem_text(problem)}",
                            code=problem.typ, retryable=False)
    return authz


def revoke(config: ProviderConfig, outputs: dict) -> None:
    """Revoke the stored certificate, signed with its own key; nothing left to revoke is success."""
    cert = x509.load_pem_x509_certificate(outputs["certificate_pem"].encode())
    key_pem = outputs.get("private_key_pem")
    private_key = serialization.load_pem_private_key(key_pem.encode(), password=None) if key_pem \
        else load_account_key(account_key_path(config))
    net = _network(private_key, config)
    try:
        with acme_failures(f"revoking certificate {format(cert.serial_number, 'x')}"):
            acme_client.ClientV2(_directory(config, net), net).revoke(cert, REVOKE_REASON)
    except ProviderError as exc:
        if exc.retryable:
            raise
        log.info("certificate %x not revoked (%s): treated as already gone", cert.serial_number, exc.message)


def revoked_at_ca(config: ProviderConfig, serial: str) -> bool | None:
    """What the CA's management API says (True/False), or None when there is no such API or record."""
    if not config.ACME_MANAGEMENT_URL:
        return None
    response = http(PROVIDER, "GET", f"{config.ACME_MANAGEMENT_URL.rstrip('/')}/cert-status-by-serial/{serial}",
                    verify=config.ACME_CA_BUNDLE or True, timeout=NETWORK_TIMEOUT)
    if response.status_code == 404:
        return None
    if not response.ok:
        raise ProviderError(PROVIDER, f"certificate status lookup answered {response.status_code}",
                            status=response.status_code)
    return str(response.json().get("Status", "")).lower() == "revoked"
