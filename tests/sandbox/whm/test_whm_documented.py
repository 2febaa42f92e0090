"""What WHM documents beyond the project's own calls: API 0, Basic auth, the cPanel bridge,
createacct's defaults and the account functions third-party clients use."""

from __future__ import annotations

import base64

import pytest

from sandbox.whm import create_app
from tests.sandbox.whm.test_whm_stand_in import AUTH, PASSWORD, TOKEN, Whm


@pytest.fixture
def whm(tmp_path, sleeps):
    return Whm(create_app(tmp_path / "whm" / "state.sqlite3", TOKEN, sleep=sleeps, now=lambda: 1_700_000_000.0))


def basic(user="root", password=TOKEN):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def api0(whm, function, headers=AUTH, **params):
    response = whm.http.get(f"/json-api/{function}", query_string=params, headers=headers)
    assert response.status_code == 200
    return response.get_json()


def test_basic_auth_and_any_case_whm_scheme_are_accepted_and_wrong_ones_refused(whm):
    assert whm.get("listaccts", headers=basic()).status_code == 200
    assert whm.get("listaccts", headers={"Authorization": f"WHM root:{TOKEN}"}).status_code == 200
    assert whm.get("listaccts", headers=basic(password="wrong")).status_code == 403
    assert whm.get("listaccts", headers={"Authorization": "Basic not-base64!"}).status_code == 403


def test_createacct_needs_only_a_username_as_whm_documents(whm):
    data = whm.ok("createacct", username="Shop")

    account = whm.account("shop")
    assert (account["plan"], account["disklimit"]) == ("default", "unlimited")
    assert account["domain"].startswith("shop.") and account["domain"].endswith(".cpanel.site")
    assert data["package"] == "default"
    assert {f"nameserverentry{s}" for s in ("", "2", "3", "4")} <= set(data)
    assert {f"nameservera{s}" for s in ("", "2", "3", "4")} <= set(data)


def test_createacct_raw_output_holds_the_new_account_info_block(whm):
    body = whm.post("createacct", username="shop", domain="shop.example", password=PASSWORD,
                    contactemail="owner@shop.example").get_json()

    raw = body["metadata"]["output"]["raw"]
    assert "| New Account Info" in raw and "| Domain: shop.example" in raw
    assert "| UserName: shop" in raw and f"| PassWord: {PASSWORD}" in raw
    assert "| NameServer1: ns1.mpanel.test" in raw and "| Package: default" in raw
    hidden = whm.post("createacct", username="blog", domain="blog.example", password=PASSWORD, showpass="n")
    assert PASSWORD not in hidden.get_json()["metadata"]["output"]["raw"]


def test_createacct_pkgname_saves_the_settings_as_a_new_package(whm):
    whm.ok("createacct", username="shop", domain="shop.example", plan="mpanel_student", quota="700",
           pkgname="shop_custom", password=PASSWORD)

    packages = {p["name"]: p for p in whm.ok("listpkgs")["pkg"]}
    assert packages["shop_custom"]["QUOTA"] == "700" and packages["shop_custom"]["MAXPOP"] == "5"
    assert whm.account("shop")["plan"] == "shop_custom"


def test_api0_answers_each_function_in_its_own_shape(whm):
    created = api0(whm, "createacct", username="shop", domain="shop.example", password=PASSWORD)
    assert created["result"][0]["status"] == 1 and "New Account Info" in created["result"][0]["rawout"]
    assert created["result"][0]["options"]["nameserver"] == "ns1.mpanel.test"
    assert api0(whm, "createacct", username="shop")["result"][0]["status"] == 0

    assert api0(whm, "suspendacct", user="shop", reason="unpaid")["result"][0]["status"] == 1
    listed = api0(whm, "listsuspended")
    assert [(a["user"], a["reason"]) for a in listed["accts"]] == [("shop", "unpaid")]
    assert api0(whm, "unsuspendacct", user="shop")["result"][0]["status"] == 1
    summary = api0(whm, "accountsummary", user="shop")
    assert (summary["status"], summary["acct"][0]["user"]) == (1, "shop")
    assert api0(whm, "listaccts")["acct"][0]["domain"] == "shop.example"
    assert api0(whm, "passwd", user="shop", password="another-secret-7")["passwd"][0]["status"] == 1
    assert "default" in {p["name"] for p in api0(whm, "listpkgs")["package"]}
    assert api0(whm, "changepackage", user="shop", pkg="mpanel_student")["result"][0]["status"] == 1
    assert "createacct" in api0(whm, "applist")["app"]
    assert api0(whm, "version")["version"].startswith("11.")
    assert api0(whm, "removeacct", user="shop")["result"][0]["status"] == 1
    # Functions newer than API 0 are unknown to it.
    assert "version (0)" in api0(whm, "list_users")["result"][0]["statusmsg"]
    assert "Unknown API version" in whm.http.get("/json-api/listaccts", query_string={"api.version": "7"},
                                                 headers=AUTH).get_json()["metadata"]["reason"]


def test_account_functions_third_party_clients_use(whm):
    whm.create(username="shop", domain="shop.example")
    whm.create(username="blog", domain="blog.example")

    assert whm.ok("list_users")["users"] == ["root", "blog", "shop"]
    whm.ok("suspendacct", user="blog", reason="abuse")
    assert [(a["user"], a["reason"], a["unixtime"]) for a in whm.ok("listsuspended")["account"]] == [
        ("blog", "abuse", 1_700_000_000)]
    whm.ok("editquota", user="shop", quota="2048")
    assert whm.account("shop")["disklimit"] == "2048M"
    modified = whm.ok("modifyacct", user="shop", domain="shop2.example", contactemail="me@shop2.example",
                      newuser="shopnew")
    assert modified["newcfg"]["user"] == "shopnew"
    assert whm.account("shopnew")["domain"] == "shop2.example"
    assert "blog.example" in whm.reason("modifyacct", user="shopnew", domain="blog.example")
    whm.ok("killpkg", pkgname="mpanel_business")
    assert "mpanel_business" in whm.reason("killpkg", pkgname="mpanel_business")
    assert whm.ok("version")["version"] == "11.126.0.9"
    assert {"applist", "createacct", "list_users"} <= set(whm.ok("applist")["app"])


def test_the_cpanel_bridge_runs_uapi_and_answers_legacy_apis_as_cpanel_does(whm):
    whm.create(username="shop", domain="shop.example")
    bridge = {"cpanel_jsonapi_user": "shop", "cpanel_jsonapi_module": "SSL",
              "cpanel_jsonapi_func": "toggle_ssl_redirect_for_domains", "domains": "shop.example", "state": "0"}

    uapi = whm.http.get("/json-api/cpanel", query_string={**bridge, "cpanel_jsonapi_apiversion": "3"},
                        headers=AUTH).get_json()
    assert uapi["result"]["status"] == 1 and uapi["result"]["data"] == [{"domain": "shop.example", "state": 0}]

    api2 = whm.http.get("/json-api/cpanel", query_string={**bridge, "cpanel_jsonapi_apiversion": "2",
                                                          "cpanel_jsonapi_module": "Email"}, headers=AUTH)
    assert api2.get_json()["cpanelresult"]["event"]["result"] == 0
    nobody = whm.http.get("/json-api/cpanel", query_string={**bridge, "cpanel_jsonapi_user": "ghost",
                                                            "cpanel_jsonapi_apiversion": "3"}, headers=AUTH)
    assert nobody.get_json()["result"]["status"] == 0
    assert whm.http.get("/json-api/cpanel", query_string=bridge).status_code == 403


def test_documented_urls_with_a_security_token_work_with_header_auth(whm):
    response = whm.http.get("/cpsess0123456789/json-api/version", query_string={"api.version": "1"}, headers=AUTH)

    assert response.get_json()["data"]["version"] == "11.126.0.9"
    assert whm.http.get("/elsewhere/json-api/version", headers=AUTH).status_code == 404
