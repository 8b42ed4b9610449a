"""The stats page's settings: loopback by default, Faust's table and router views off unless configured."""

from __future__ import annotations

import pytest

from bridge.settings import load as load_bridge
from streamproc.shared.settings import SettingsError
from streamproc.worker.settings import WorkerSettings


def test_the_worker_web_defaults_are_loopback_with_faust_tables_and_router_off() -> None:
    s = WorkerSettings.from_env({})
    assert (s.web_host, s.web_port, s.web_tables, s.web_router) == ("127.0.0.1", 6066, False, False)
    assert (s.web_refresh_seconds, s.web_poll_seconds) == (5, 5.0)
    assert s.bridge_health_url == "http://127.0.0.1:6067/healthz"


def test_every_web_variable_is_read() -> None:
    s = WorkerSettings.from_env(
        {
            "STREAMPROC_WEB_TABLES": "true",
            "STREAMPROC_WEB_ROUTER": "yes",
            "STREAMPROC_WEB_REFRESH_SECONDS": "2",
            "STREAMPROC_WEB_POLL_SECONDS": "0.5",
            "STREAMPROC_BRIDGE_HEALTH_URL": "http://bridge:7000/healthz",
        }
    )
    assert (s.web_tables, s.web_router, s.web_refresh_seconds, s.web_poll_seconds) == (True, True, 2, 0.5)
    assert s.bridge_health_url == "http://bridge:7000/healthz"


@pytest.mark.parametrize(
    ("var", "raw"),
    [("STREAMPROC_WEB_TABLES", "maybe"), ("STREAMPROC_WEB_REFRESH_SECONDS", "0"), ("STREAMPROC_WEB_POLL_SECONDS", "0")],
)
def test_a_bad_web_value_names_its_variable(var: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=var):
        WorkerSettings.from_env({var: raw})


def test_the_bridge_serves_http_on_loopback_6067_unless_configured() -> None:
    assert (load_bridge({}).http_host, load_bridge({}).http_port) == ("127.0.0.1", 6067)
    s = load_bridge({"BRIDGE_HTTP_HOST": "10.0.0.5", "BRIDGE_HTTP_PORT": "7067"})
    assert (s.http_host, s.http_port) == ("10.0.0.5", 7067)
    with pytest.raises(SettingsError, match="BRIDGE_HTTP_PORT"):
        load_bridge({"BRIDGE_HTTP_PORT": "70000"})
