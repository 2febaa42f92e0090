"""Settings from a given environment (app/settings.py::Settings.from_env), and the local fallback."""
from __future__ import annotations

import json

import pytest

from app.settings import Settings


@pytest.fixture(autouse=True)
def no_local_servers(tmp_path, monkeypatch):
    """An empty state dir: no endpoints.json unless a test writes one."""
    monkeypatch.setenv("MPANEL_STATE_DIR", str(tmp_path))
    return tmp_path


def local_endpoints(state_dir, **values) -> None:
    (state_dir / "endpoints.json").write_text(json.dumps(values))


def test_an_empty_environment_gives_the_defaults():
    s = Settings.from_env({})
    assert s == Settings()
    assert (s.SMTP_PORT, s.MARKETING_AUTO_PROVISION, s.SUSPEND_AFTER_DAYS) == (587, True, 7.0)


def test_text_values_are_taken_as_given():
    s = Settings.from_env({"STRIPE_SECRET_KEY": "sk_test_x", "APP_URL": "https://panel.example.net"})
    assert (s.STRIPE_SECRET_KEY, s.APP_URL) == ("sk_test_x", "https://panel.example.net")


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_these_spellings_turn_a_flag_on(raw):
    assert Settings.from_env({"MARKETING_TEST_MODE": raw}).MARKETING_TEST_MODE is True


@pytest.mark.parametrize("raw", ["0", "false", "no", "off", "nope"])
def test_any_other_spelling_turns_a_flag_off(raw):
    assert Settings.from_env({"MARKETING_AUTO_PROVISION": raw}).MARKETING_AUTO_PROVISION is False


def test_an_empty_flag_keeps_its_default():
    assert Settings.from_env({"MARKETING_AUTO_PROVISION": ""}).MARKETING_AUTO_PROVISION is True


def test_numbers_are_parsed_and_an_empty_number_keeps_its_default():
    s = Settings.from_env({"SMTP_PORT": "2525", "SUSPEND_AFTER_DAYS": "0.5", "DEFAULT_WEB_SERVER_ID": ""})
    assert (s.SMTP_PORT, s.SUSPEND_AFTER_DAYS, s.DEFAULT_WEB_SERVER_ID) == (2525, 0.5, 1)


def test_a_number_that_is_not_one_is_refused():
    with pytest.raises(ValueError):
        Settings.from_env({"SMTP_PORT": "smtp"})


def test_variables_that_are_not_settings_are_ignored():
    assert Settings.from_env({"HOME": "/root", "PATH": "/bin"}) == Settings()


def test_the_local_servers_endpoints_fill_what_the_environment_does_not_set(no_local_servers):
    local_endpoints(no_local_servers, DATABASE_URL="postgresql://local/mpanel", SMTP_PORT=2525,
                    NAMESILO_SANDBOX=True)
    s = Settings.from_env({})
    assert (s.DATABASE_URL, s.SMTP_PORT, s.NAMESILO_SANDBOX) == ("postgresql://local/mpanel", 2525, True)


def test_the_environment_wins_over_the_local_servers_even_when_empty(no_local_servers):
    local_endpoints(no_local_servers, STRIPE_SECRET_KEY="sk_test_mpanel_local", DATABASE_URL="postgresql://local")
    s = Settings.from_env({"STRIPE_SECRET_KEY": "", "DATABASE_URL": "postgresql://real"})
    assert (s.STRIPE_SECRET_KEY, s.DATABASE_URL) == ("", "postgresql://real")


def test_settings_cannot_be_changed_once_read():
    s = Settings.from_env({})
    with pytest.raises(Exception):
        s.APP_URL = "http://elsewhere"  # type: ignore[misc]


LOCAL_SANDBOX = {"STRIPE_SECRET_KEY": "sk_test_mpanel_0123456789abcdef01234567"}


def test_the_local_sandbox_is_a_trial_where_the_seeds_free_test_checkout_works():
    s = Settings.from_env({}, local=LOCAL_SANDBOX)
    assert (s.MARKETING_TEST_MODE, s.MARKETING_OVERRIDE_CODE) == (True, "TESTFREE")


def test_the_environment_can_switch_the_local_trial_off():
    s = Settings.from_env({"MARKETING_TEST_MODE": "false"}, local=LOCAL_SANDBOX)
    assert s.MARKETING_TEST_MODE is False


def test_a_real_stripe_key_keeps_test_mode_off_even_beside_a_local_sandbox():
    s = Settings.from_env({"STRIPE_SECRET_KEY": "sk_live_abc"}, local=LOCAL_SANDBOX)
    assert (s.MARKETING_TEST_MODE, s.MARKETING_OVERRIDE_CODE) == (False, "")


def test_a_chosen_override_code_is_kept_in_the_local_trial():
    s = Settings.from_env({"MARKETING_OVERRIDE_CODE": "STAFF100"}, local=LOCAL_SANDBOX)
    assert s.MARKETING_OVERRIDE_CODE == "STAFF100"
