"""Whether a certificate already installed on a web server can be taken over as a stack's own.

An import (app/services/operators/imports.py) reports what its first converge will do with the
certificate, and the certificate provider's takeover (providers/resources/certificate.py) decides
the same way, so both call `takeover_problem`. A certificate is taken over only if serving it
on is as good as what the stack would issue: the key is there and is the certificate's, the CA
bundle issued it, it covers every name the stack wants, it is valid now and not inside the
renewal window (else the first converge would replace it at once), and its key is of a type the
provider can renew as (the key type is part of what the stack records). Anything else: a new
certificate is issued, as for any order.
"""
from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

DEFAULT_RENEW_BEFORE_DAYS = 30


def key_type_of(private_key) -> str | None:
    """The provider's name for a key's type (providers/clients/acme.KEY_TYPES), or None."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ec256", "secp384r1": "ec384"}.get(private_key.curve.name)
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size in (2048, 4096):
        return f"rsa{private_key.key_size}"
    return None


def covers(names: list[str], wanted: str) -> bool:
    """`names` (a certificate's) cover `wanted`: exactly, or by a wildcard of one label."""
    for name in names:
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == name[2:]:
            return True
    return False


def dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return sorted({str(n).lower() for n in san.value.get_values_for_type(x509.DNSName)})


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def takeover_problem(installed: dict | None, names: list[str], *, renew_before_days: int = DEFAULT_RENEW_BEFORE_DAYS,
                     now: datetime.datetime | None = None) -> str | None:
    """Why the installed certificate (WHM's fetchsslinfo: `crt`, `key`, `cab`) cannot be taken over
    for `names`, or None when it can."""
    if not installed or not installed.get("crt"):
        return "no certificate is installed for the domain"
    if not installed.get("key"):
        return "the server did not give the certificate's private key"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        leaf = x509.load_pem_x509_certificate(str(installed["crt"]).encode())
        key = serialization.load_pem_private_key(str(installed["key"]).encode(), password=None)
        chain = x509.load_pem_x509_certificates(str(installed["cab"]).encode()) if installed.get("cab") else []
    except (ValueError, TypeError):
        return "the installed certificate, key or CA bundle cannot be read"
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        return "the installed private key is not the certificate's"
    if key_type_of(key) is None:
        return "the certificate's key is of a type mpanel does not renew as (EC P-256/P-384, RSA 2048/4096)"
    if not chain:
        return "the certificate is installed without the CA bundle that issued it"
    try:
        leaf.verify_directly_issued_by(chain[0])
    except (InvalidSignature, ValueError, TypeError):
        return "the certificate was not issued by the first certificate of its CA bundle"
    if leaf.issuer == leaf.subject:
        return "the certificate is self-signed"
    missing = [n for n in names if not covers(dns_names(leaf), n)]
    if missing:
        return f"the certificate does not cover {', '.join(missing)} (it names {', '.join(dns_names(leaf)) or 'nothing'})"
    if leaf.not_valid_before_utc > now:
        return f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M}"
    if leaf.not_valid_after_utc - now < datetime.timedelta(days=renew_before_days):
        return (f"the certificate expires {leaf.not_valid_after_utc:%Y-%m-%d}, within the {renew_before_days}-day "
                "renewal window")
    return None
