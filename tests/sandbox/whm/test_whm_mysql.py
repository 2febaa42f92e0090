"""The WHM stand-in's MySQL databases: created and listed through UAPI's Mysql module, listed
for an account by WHM API 1 `list_mysql_databases_and_users` in cPanel's documented shape,
carried in pkgacct's archive and recreated by a restore, dropped with the account."""

from __future__ import annotations

import pytest

from sandbox.whm import create_app
from tests.sandbox.whm.test_whm_stand_in import AUTH, TOKEN, Whm


@pytest.fixture
def whm(tmp_path, sleeps):
    return Whm(create_app(tmp_path / "whm" / "state.sqlite3", TOKEN, sleep=sleeps))


def uapi(whm: Whm, account: str, function: str, **params) -> dict:
    """A UAPI Mysql call through WHM's `uapi_cpanel`: UAPI's own result."""
    return whm.ok("uapi_cpanel", **{"cpanel.user": account, "cpanel.module": "Mysql", "cpanel.function": function},
                  **params)["uapi"]


def bridged(whm: Whm, account: str, function: str, **params) -> dict:
    """The same call through `/json-api/cpanel` with apiversion 3."""
    return whm.http.get("/json-api/cpanel", headers=AUTH, query_string={
        "cpanel_jsonapi_user": account, "cpanel_jsonapi_apiversion": "3", "cpanel_jsonapi_module": "Mysql",
        "cpanel_jsonapi_func": function, **params}).get_json()["result"]


@pytest.fixture
def shop(whm):
    whm.create(username="shopowner", domain="shop.example")
    assert uapi(whm, "shopowner", "create_database", name="shopowne_wp")["status"] == 1
    assert bridged(whm, "shopowner", "create_database", name="shopowne_logs")["status"] == 1
    assert uapi(whm, "shopowner", "create_user", name="shopowne_app", password="a-long-secret")["status"] == 1
    done = uapi(whm, "shopowner", "set_privileges_on_database", user="shopowne_app", database="shopowne_wp",
                privileges="ALL PRIVILEGES")
    assert done["status"] == 1 and done["errors"] is None
    written = whm.http.post("/_sandbox/mysql/shopowne_wp", json={"sql": "INSERT INTO posts VALUES (1, 'hi');\n"})
    assert written.status_code == 200, written.get_json()
    return "shopowner"


def test_list_mysql_databases_and_users_answers_in_whm_api_1s_documented_shape(whm, shop):
    body = whm.post("list_mysql_databases_and_users", user=shop).get_json()
    assert body["metadata"]["command"] == "list_mysql_databases_and_users" and body["metadata"]["result"] == 1
    assert set(body["metadata"]) >= {"command", "version", "result", "reason"}
    assert body["data"] == {
        "mysql_config": {"mysql-version": "8.0", "prefix_length": 8, "use_db_prefix": 1},
        "mysql_databases": {"shopowne_logs": [], "shopowne_wp": ["shopowne_app"]}}


def test_uapi_lists_databases_with_their_size_and_users_and_users_with_their_databases(whm, shop):
    listed = uapi(whm, shop, "list_databases")
    assert listed["status"] == 1 and listed["errors"] is None
    assert listed["data"] == [
        {"database": "shopowne_logs", "disk_usage": 0, "users": []},
        {"database": "shopowne_wp", "disk_usage": len("INSERT INTO posts VALUES (1, 'hi');\n"),
         "users": ["shopowne_app"]}]
    assert uapi(whm, shop, "list_users")["data"] == [
        {"user": "shopowne_app", "shortuser": "app", "databases": ["shopowne_wp"]}]


@pytest.mark.parametrize("name, said", [("wp", "must begin with the account’s prefix “shopowne_”"),
                                        ("shopowne_Bad-Name", "may only contain"),
                                        ("shopowne_wp", "already exists")])
def test_a_database_name_without_the_prefix_or_taken_is_refused_as_uapi_refuses(whm, shop, name, said):
    refused = uapi(whm, shop, "create_database", name=name)
    assert refused["status"] == 0 and said in refused["errors"][0] and refused["data"] is None


def test_another_accounts_database_cannot_be_granted_or_listed(whm, shop):
    whm.create(username="other", domain="other.example")
    refused = uapi(whm, "other", "set_privileges_on_database", user="shopowne_app", database="shopowne_wp",
                   privileges="ALL PRIVILEGES")
    assert refused["status"] == 0 and "does not exist" in refused["errors"][0]
    assert whm.ok("list_mysql_databases_and_users", user="other")["mysql_databases"] == {}
    assert "does not exist" in whm.reason("list_mysql_databases_and_users", user="nobody1")


def test_removeacct_drops_the_accounts_databases_and_users(whm, shop):
    whm.ok("removeacct", username=shop)
    whm.create(username="shopowner", domain="shop.example")
    assert whm.ok("list_mysql_databases_and_users", user=shop)["mysql_databases"] == {}
    assert uapi(whm, shop, "list_users")["data"] == []


def test_a_backup_carries_the_databases_and_a_restore_recreates_them(whm, shop):
    started = whm.ok("start_background_pkgacct", user=shop)
    archive = f"{started['path']}/{started['file']}"
    before = whm.ok("list_mysql_databases_and_users", user=shop)
    sizes = uapi(whm, shop, "list_databases")["data"]
    whm.ok("removeacct", username=shop)
    whm.ok("start_local_cpmove_restore", cpmovepath=archive)
    assert whm.ok("list_mysql_databases_and_users", user=shop) == before
    assert uapi(whm, shop, "list_databases")["data"] == sizes
    state = whm.http.get("/_sandbox/state").get_json()["state"]
    assert state["mysql_users"]["shopowne_app"]["password_hash"].startswith("*")


def test_a_restore_fault_brings_the_account_back_without_its_databases_and_says_so(whm, shop):
    started = whm.ok("start_background_pkgacct", user=shop)
    whm.ok("removeacct", username=shop)
    whm.fault(operation="restore_mysql", kind="code", reason="Failed to import shopowne_wp (test)")
    body = whm.post("start_local_cpmove_restore", cpmovepath=f"{started['path']}/{started['file']}").get_json()
    assert body["metadata"]["result"] == 1
    assert "Failed to import shopowne_wp (test)" in body["metadata"]["output"]["raw"]
    assert whm.ok("list_mysql_databases_and_users", user=shop)["mysql_databases"] == {}


def test_content_written_through_the_control_api_must_be_text_for_a_database_that_exists(whm, shop):
    assert whm.http.post("/_sandbox/mysql/shopowne_nope", json={"sql": ""}).status_code == 404
    assert whm.http.post("/_sandbox/mysql/shopowne_wp", json={"sql": 5}).status_code == 400
