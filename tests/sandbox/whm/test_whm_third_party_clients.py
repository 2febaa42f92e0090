"""The WHM stand-in driven by clients the project did not write, from PyPI.

- ``pycpanel`` (0.1.5) speaks WHM API 0 (no ``api.version``), authenticates with HTTP Basic
  (``password=``) or the ``WHM user:hash`` header (``hash=``), lists ``applist`` to check the
  connection and calls cPanel API 2 through ``/json-api/cpanel``. It builds its address as
  ``https://HOST:2087/`` (or ``http://HOST:2086/``), so the tests set its ``hostname``
  attribute to the stand-in's loopback URL after connecting with ``check_conn=False``.
- ``cpanel-client`` (1.0.0, module ``cpanel``) speaks WHM API 1 with HTTP Basic auth; it takes
  the base URL and port as arguments, so it needs no patching.

The stand-in's one secret is both the API token and root's password (docs/stand-ins.md).
"""

from __future__ import annotations

import pycpanel
import pytest
from cpanel.cpanel import ServerAPI

from sandbox.whm import create_app
from tests.sandbox.live import served

TOKEN = "WHMTOKEN0123456789"


@pytest.fixture
def base_url(tmp_path, sleeps):
    with served(create_app(tmp_path / "whm" / "state.sqlite3", TOKEN, sleep=sleeps)) as url:
        yield url


def pycpanel_connection(base_url: str, **credentials) -> pycpanel.conn:
    connection = pycpanel.conn("whm.invalid", ssl=False, check_conn=False, **credentials)
    connection.hostname = f"{base_url}/"  # the library's address, built from host and fixed port
    return connection


@pytest.mark.parametrize("credentials", [{"password": TOKEN}, {"hash": TOKEN}], ids=["basic", "whm header"])
def test_pycpanel_connects_and_manages_an_account_over_api_0(base_url, credentials):
    whm = pycpanel_connection(base_url, **credentials)

    assert {"createacct", "listaccts", "applist"} <= set(whm.json_list())
    created = whm.api("createacct", {"username": "Shop", "domain": "shop.example", "plan": "mpanel_starter"})
    result = created["result"][0]
    assert result["status"] == 1 and result["options"]["package"] == "mpanel_starter"
    assert "New Account Info" in result["rawout"]

    assert [a["user"] for a in whm.api("listaccts")["acct"]] == ["shop"]
    assert whm.api("suspendacct", {"user": "shop", "reason": "unpaid"})["result"][0]["status"] == 1
    assert [a["user"] for a in whm.api("listsuspended")["accts"]] == ["shop"]
    assert whm.api("unsuspendacct", {"user": "shop"})["result"][0]["status"] == 1
    assert whm.api("version")["version"].startswith("11.")
    assert whm.api("removeacct", {"user": "shop"})["result"][0]["status"] == 1
    assert whm.api("listaccts")["acct"] == []


def test_pycpanel_calls_cpanel_api_2_through_the_bridge(base_url):
    whm = pycpanel_connection(base_url, password=TOKEN)
    whm.api("createacct", {"username": "shop", "domain": "shop.example"})

    data = whm.cpanel_api("StatsBar", "stat", "shop")

    # No cPanel API 2 function is modeled: cPanel's answer for a missing function.
    assert data["result"] == "0" and "stat" in data["reason"]


def test_pycpanel_with_a_wrong_password_is_told_access_is_denied(base_url):
    whm = pycpanel_connection(base_url, password="wrong")

    with pytest.raises(Exception, match="Access denied"):
        whm.api("listaccts")


def test_cpanel_client_creates_suspends_and_terminates_over_api_1_with_basic_auth(base_url):
    host, port = base_url.rsplit(":", 1)
    whm = ServerAPI("root", TOKEN, host, port)

    created = whm.create_account("owner@shop.example", "shop.example", "mpanel_student")
    assert (created["success"], created["username"]) == (1, "shopexample"), created
    assert "| Domain: shop.example" in created["data"]
    assert whm.suspend_account("shopexample") == {"success": 1, "message": "Account “shopexample” has been suspended."}
    assert whm.terminate_account("shopexample")["success"] == 1
    assert whm.create_account("owner@shop.example", "shop.example", "no_such_plan")["success"] == 0
    # (A refused login, HTTP 403, is covered with pycpanel: cpanel-client itself fails on it
    # with UnboundLocalError, its own bug.)
