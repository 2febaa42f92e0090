"""The client behind nginx: forwarded headers believed only from MPANEL_TRUSTED_PROXIES."""
from __future__ import annotations

import pytest
from flask import Flask, jsonify, request

from app.web.proxy import TrustedProxies, client_of, parse_networks

NGINX = parse_networks("127.0.0.1, 10.0.0.0/8, ::1")


@pytest.mark.parametrize("peer, forwarded, client", [
    ("127.0.0.1", "203.0.113.7", "203.0.113.7"),                     # nginx said who it was
    ("198.51.100.9", "203.0.113.7", "198.51.100.9"),                 # an untrusted peer's header is ignored
    ("127.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"),            # the forged left part is not believed
    ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),           # a trusted hop in between is skipped
    ("127.0.0.1", "", "127.0.0.1"),                                  # nothing forwarded: the proxy itself
    ("127.0.0.1", "not-an-ip", "127.0.0.1"),                         # garbage: stop at what we can vouch for
    ("::1", "2001:db8::5", "2001:db8::5"),
    ("127.0.0.1", "203.0.113.7:51234", "203.0.113.7"),
])
def test_the_client_is_the_rightmost_untrusted_address(peer, forwarded, client):
    assert client_of(peer, forwarded, NGINX) == client


def test_a_bad_entry_is_a_configuration_error():
    with pytest.raises(ValueError, match="MPANEL_TRUSTED_PROXIES"):
        parse_networks("127.0.0.1, nginx")
    assert parse_networks("") == ()


def _app(networks):
    app = Flask(__name__)

    @app.get("/")
    def who():
        return jsonify(addr=request.remote_addr, scheme=request.scheme)

    app.wsgi_app = TrustedProxies(app.wsgi_app, networks)
    return app.test_client()


def test_the_middleware_sets_address_and_scheme_only_for_a_trusted_peer():
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    trusted = _app(NGINX).get("/", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).json
    assert trusted == {"addr": "203.0.113.7", "scheme": "https"}
    untrusted = _app(NGINX).get("/", headers=headers, environ_base={"REMOTE_ADDR": "198.51.100.9"}).json
    assert untrusted == {"addr": "198.51.100.9", "scheme": "http"}
