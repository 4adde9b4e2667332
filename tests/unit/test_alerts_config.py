"""The config's ``[alerts]`` section: it names the environment variables holding the target URLs (never a
URL itself), sets the rate limit and retries, is validated with errors naming the field, and status and
doctor show each target by its scheme only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from keeper.config import AlertsConfig, load_config
from keeper.ops.alerts import Alerter, AlertSettings, redacted_url, targets_line
from keeper.ops.doctor import check_alerts
from tests.unit.test_config import devnet_data, dump_toml, load_error

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TGRAM = f"tgram://{BOT_TOKEN}/-100200300"
KEY = {"KEEPER_PRIVATE_KEY": "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"}


@pytest.fixture
def write(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def _write(alerts: dict[str, Any]) -> Path:
        data = devnet_data()
        data["alerts"] = alerts
        path = tmp_path / "keeper.toml"
        path.write_text(dump_toml(data))
        return path
    return _write


def test_the_section_names_the_variables_and_sets_the_limits(write: Callable[[dict[str, Any]], Path]) -> None:
    cfg = load_config(write({"urls_env": "OPS_ALERTS", "window_s": 30, "max_per_window": 2, "retries": 7,
                             "timeout_s": 3}), KEY)
    assert cfg.alerts == AlertsConfig(urls_env="OPS_ALERTS", window_s=30.0, max_per_window=2, retries=7,
                                      timeout_s=3.0)
    s = AlertSettings.from_env({"OPS_ALERTS": TGRAM, "KEEPER_ALERT_URLS": "this is not read"}, cfg.alerts)
    assert s.urls == (TGRAM,) and (s.window_s, s.max_per_window, s.retries, s.timeout_s) == (30.0, 2, 7, 3.0)
    a = Alerter(s)
    assert a.targets == ("Telegram (OPS_ALERTS[0])",)
    a.close()
    # The older variables still win over the file's numbers.
    assert AlertSettings.from_env({"KEEPER_ALERT_RETRIES": "2"}, cfg.alerts).retries == 2
    # Without a section: today's variables and defaults.
    assert load_config(write({}), KEY).alerts == AlertsConfig()


@pytest.mark.parametrize(("alerts", "field", "says"), [
    ({"urls_env": TGRAM}, "alerts.urls_env", "never a URL itself"),
    ({"webhook_env": "https://hooks.example.com/T0/B0/XYZ"}, "alerts.webhook_env", "never a URL itself"),
    ({"urls_env": "1BAD NAME"}, "alerts.urls_env", "environment variable name"),
    ({"retries": 0}, "alerts.retries", "must be >= 1"),
    ({"window_s": -1}, "alerts.window_s", "must be > 0"),
    ({"max_per_window": "five"}, "alerts.max_per_window", ""),
    ({"urls": [TGRAM]}, "alerts.urls", "unknown field"),
])
def test_bad_values_are_named_and_a_secret_is_never_repeated(write: Callable[[dict[str, Any]], Path],
                                                              alerts: dict[str, Any], field: str, says: str) -> None:
    err = load_error(write(alerts), KEY)
    assert field in err and says in err
    assert BOT_TOKEN not in err and "XYZ" not in err


def test_status_and_doctor_show_the_scheme_only() -> None:
    env = {"KEEPER_ALERT_URLS": f"{TGRAM} discord://4444/tokentokentoken", "KEEPER_ALERT_WEBHOOK":
           "https://hooks.example.com/services/T0/B0/secretsecret"}
    line = targets_line(env)
    assert line == "3 target(s): https://hooks.example.com/…, tgram://…, discord://…"
    for secret in (BOT_TOKEN, "tokentokentoken", "secretsecret", "4444"):
        assert secret not in line
    assert redacted_url("https://user:pw@host.example:8443/x") == "https://host.example:8443/…"
    assert targets_line({}) == "off ($KEEPER_ALERT_URLS and $KEEPER_ALERT_WEBHOOK are empty)"
    bad = targets_line({"KEEPER_ALERT_URLS": "tgram://AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/"})
    assert bad.startswith("refused (KEEPER_ALERT_URLS[0]") and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in bad


def test_doctor_checks_the_targets(write: Callable[[dict[str, Any]], Path]) -> None:
    cfg = load_config(write({"urls_env": "OPS_ALERTS"}), KEY)
    ok = check_alerts(cfg, {"OPS_ALERTS": TGRAM})
    assert ok.status == "pass" and "tgram://…" in ok.detail and BOT_TOKEN not in ok.detail
    off = check_alerts(cfg, {"KEEPER_ALERT_URLS": TGRAM})  # the file points elsewhere
    assert off.status == "warn" and "$OPS_ALERTS" in off.detail and "OPS_ALERTS=" in off.fix
    bad = check_alerts(cfg, {"OPS_ALERTS": "tgram://AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/"})
    assert bad.status == "fail" and "OPS_ALERTS[0]" in bad.detail
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in bad.detail + bad.fix
