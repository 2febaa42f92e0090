"""Certificate checks the WHM stand-in makes before ``installssl`` accepts a pair.

WHM refuses a certificate it cannot parse, a key that is not the certificate's, and
a certificate that does not name the domain; the stand-in does the same so that a
client bug (wrong key from a previous order, chain pasted as the certificate) fails
here rather than in production.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID


class CertificateRejected(ValueError):
    """The reason is shown to the client as WHM's metadata.reason."""


def inspect_pair(domain: str, crt: str, key: str, cab: str = "") -> dict[str, Any]:
    """Validate a certificate and key for ``domain``; return what the stand-in stores."""
    try:
        certificate = x509.load_pem_x509_certificate(crt.encode())
    except ValueError:
        raise CertificateRejected("The certificate is not a valid PEM-encoded X.509 certificate.") from None
    try:
        private_key = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        # TypeError: the key is encrypted; WHM cannot use a key it cannot read either.
        raise CertificateRejected("The private key is not a valid unencrypted PEM-encoded key.") from None
    if cab.strip():
        try:
            x509.load_pem_x509_certificates(cab.encode())
        except ValueError:
            raise CertificateRejected("The CA bundle is not a valid PEM-encoded certificate chain.") from None

    if _spki(certificate.public_key()) != _spki(private_key.public_key()):
        raise CertificateRejected("The certificate does not match the private key.")
    names = subject_names(certificate)
    if not covers(names, domain):
        raise CertificateRejected(
            f"The certificate does not cover the domain “{domain}” (it names: {', '.join(names) or 'nothing'})."
        )
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    key_digest = hashlib.sha256(_spki(private_key.public_key())).hexdigest()
    not_after = int(certificate.not_valid_after_utc.timestamp())
    return {
        "crt": crt,
        "key": key,
        "cab": cab,
        "subject_names": names,
        "not_after": not_after,
        # Shaped like WHM's ids: domain, key/cert digests, expiry.
        "cert_id": f"{domain.replace('.', '_')}_{key_digest[:5]}_{fingerprint[:5]}_{not_after}",
        "key_id": f"{key_digest[:5]}_{key_digest[5:10]}_{key_digest[10:42]}",
    }


def subject_names(certificate: x509.Certificate) -> list[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [attr.value for attr in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return sorted({str(name).lower() for name in names})


def covers(names: list[str], domain: str) -> bool:
    for name in names:
        if name == domain:
            return True
        # A wildcard covers exactly one label: *.example.com covers www.example.com,
        # not example.com and not a.b.example.com.
        if name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:]:
            return True
    return False


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

