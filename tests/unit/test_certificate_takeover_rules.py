"""Whether an installed certificate can be taken over (providers/rules/certificates.py), and how the
certificate provider keeps a taken-over one (its key type until renewal)."""
from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from providers.resources.certificate import CertificateProvider
from providers.rules.certificates import key_type_of, takeover_problem

NOW = datetime.datetime(2030, 6, 1, tzinfo=datetime.timezone.utc)
NAMES = ["shop.example", "www.shop.example"]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Old System CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=365)).not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


CA = _ca()


def installed(names=NAMES, *, days_left=60, starts_days_ago=30, key=None, ca=CA, cab=True, self_signed=False):
    """What WHM's fetchsslinfo answers for a certificate issued by `ca` (or signed by itself)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    ca_key, ca_cert = ca
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(subject if self_signed else ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=starts_days_ago))
               .not_valid_after(NOW + datetime.timedelta(days=days_left))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False))
    cert = builder.sign(key if self_signed else ca_key, hashes.SHA256())
    return {"crt": _pem(cert), "key": _key_pem(key), "cab": _pem(cert if self_signed else ca_cert) if cab else ""}


def test_a_ca_issued_certificate_covering_the_names_and_not_due_can_be_taken_over():
    assert takeover_problem(installed(), NAMES, now=NOW) is None


def test_a_wildcard_covers_www_but_not_the_apex():
    assert takeover_problem(installed(["shop.example", "*.shop.example"]), NAMES, now=NOW) is None
    assert "does not cover shop.example" in takeover_problem(installed(["*.shop.example"]), NAMES, now=NOW)


@pytest.mark.parametrize("changes, words", [
    ({"names": ["shop.example"]}, "does not cover www.shop.example"),
    ({"days_left": 10}, "within the 30-day renewal window"),
    ({"days_left": -1}, "within the 30-day renewal window"),
    ({"starts_days_ago": -2}, "not valid before"),
    ({"cab": False}, "without the CA bundle"),
    ({"self_signed": True}, "self-signed"),
    ({"key": rsa.generate_private_key(public_exponent=65537, key_size=3072)}, "a type mpanel does not renew as"),
])
def test_a_certificate_that_cannot_serve_on_as_the_stacks_is_not_taken_over_saying_why(changes, words):
    names = changes.pop("names", NAMES)
    assert words in takeover_problem(installed(names, **changes), NAMES, now=NOW)


def test_a_certificate_whose_bundle_did_not_issue_it_or_whose_key_is_another_is_not_taken_over():
    other_ca = installed(ca=_ca())
    assert "not issued by the first certificate of its CA bundle" in \
        takeover_problem({**other_ca, "cab": installed()["cab"]}, NAMES, now=NOW)
    assert "not the certificate's" in takeover_problem({**installed(), "key": installed()["key"]}, NAMES, now=NOW)
    assert "did not give the certificate's private key" in takeover_problem({**installed(), "key": ""}, NAMES, now=NOW)
    assert "no certificate is installed" in takeover_problem(None, NAMES, now=NOW)
    assert "cannot be read" in takeover_problem({**installed(), "crt": "-----BEGIN CERTIFICATE-----\nxx"}, NAMES,
                                                now=NOW)


def test_key_types_are_named_as_the_provider_names_them():
    assert key_type_of(ec.generate_private_key(ec.SECP256R1())) == "ec256"
    assert key_type_of(ec.generate_private_key(ec.SECP384R1())) == "ec384"
    assert key_type_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)) == "rsa2048"
    assert key_type_of(ec.generate_private_key(ec.SECP521R1())) is None


def _olds(**changes):
    cert = installed()
    outs = {"domain": "shop.example", "alt_names": ["www.shop.example"], "renew_before_days": 30,
            "key_type": "rsa2048", "certificate_pem": cert["crt"], "not_after": "2099-01-01T00:00:00Z",
            "taken_over": True}
    outs.update(changes)
    return outs


NEWS = {"domain": "shop.example", "alt_names": ["www.shop.example"], "renew_before_days": 30, "key_type": "ec256"}


def test_a_taken_over_certificate_keeps_its_key_type_until_renewal_and_an_issued_one_is_replaced():
    provider = CertificateProvider()
    kept = provider.diff("1a", _olds(), NEWS)
    assert (kept.changes, kept.replaces) == (False, [])
    issued = provider.diff("1a", _olds(taken_over=None), NEWS)
    assert issued.replaces == ["key_type"]
    due = provider.diff("1a", _olds(not_after="2000-01-01T00:00:00Z"), NEWS)
    assert due.replaces == ["not_after"]
    # The renewal window moving in place keeps the key type it came with.
    assert provider.change(None, "1a", _olds(), {**NEWS, "renew_before_days": 20})["key_type"] == "rsa2048"


def test_the_takeover_inputs_are_never_diffed():
    provider = CertificateProvider()
    assert provider.diff("1a", _olds(), {**NEWS, "takeover": True, "server": "3"}).changes is False
