"""Configuration: defaults, config.toml, NAPFLOW_* variables, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from napflow.errors import ConfigError
from napflow.runtime.settings import DEFAULT_DATABASE_URL, Settings, load_settings


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}) == Settings()
    assert Settings().database_url == DEFAULT_DATABASE_URL == "sqlite:///var/napflow.db"


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "napflow.toml"
    (tmp_path / "extra").mkdir()
    config.write_text(
        '[database]\nurl = "sqlite:///a.db"\nbusy_timeout_ms = 2500\n'
        '[plans]\ndefault_timezone = "Asia/Dushanbe"\n[workflows]\ndirs = ["extra"]\n'
    )
    settings = load_settings(config, env={})
    assert settings == Settings(
        database_url="sqlite:///a.db",
        busy_timeout_ms=2500,
        default_timezone="Asia/Dushanbe",
        workflow_dirs=((tmp_path / "extra").resolve(),),
    )
    env = {"NAPFLOW_DATABASE_URL": "sqlite:///b.db", "NAPFLOW_BUSY_TIMEOUT_MS": "99"}
    overridden = load_settings(config, env=env)
    assert (overridden.database_url, overridden.busy_timeout_ms) == ("sqlite:///b.db", 99)
    assert load_settings(env={"NAPFLOW_CONFIG": str(config)}).busy_timeout_ms == 2500


def test_the_links_in_mails_and_the_attachment_limit(tmp_path: Path) -> None:
    config = tmp_path / "napflow.toml"
    config.write_text('[web]\nbase_url = "https://napflow.mfa.tj/"\n[mail]\nattach_max_mb = 0\n')
    settings = load_settings(config, env={})
    assert (settings.base_url, settings.mail_attach_max_mb) == ("https://napflow.mfa.tj", 0)
    env = {"NAPFLOW_BASE_URL": "http://10.0.0.5:8080", "NAPFLOW_MAIL_ATTACH_MAX_MB": "12"}
    overridden = load_settings(config, env=env)
    assert (overridden.base_url, overridden.mail_attach_max_mb) == ("http://10.0.0.5:8080", 12)
    with pytest.raises(ConfigError, match="NAPFLOW_MAIL_ATTACH_MAX_MB must be a whole number"):
        load_settings(config, env={"NAPFLOW_MAIL_ATTACH_MAX_MB": "lots"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[database\n", "is not valid TOML"),
        ("[smtp]\nhost = 'x'\n", "unknown section [smtp]"),
        ("[database]\nbusy_timeout_ms = -1\n", "database.busy_timeout_ms must be a positive"),
        ("[plans]\ndefault_timezone = 'Moon/Base'\n", "unknown time zone 'Moon/Base'"),
        ("[workflows]\ndirs = 'x'\n", "workflows.dirs must be a list of directory paths"),
        ("[web]\nbase_url = 'napflow.example'\n", "web.base_url must be the address the web"),
        ("[web]\nbase_url = 'https://x.example/?a=1'\n", "(http or https, a host and port only)"),
        ("[web]\nbase_url = 'https://x.example/napflow'\n", "a host and port only"),
        ("[web]\nbase_url = 'https://me:pw@x.example'\n", "a host and port only"),
        ("[mail]\nattach_max_mb = 21\n", "mail.attach_max_mb must be at most 20"),
        ("[mail]\nattach_max_mb = -1\n", "mail.attach_max_mb must be a whole number, 0 or more"),
    ],
)
def test_bad_config_is_named(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(config, env={})


def test_missing_named_config_and_bad_env(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="NAPFLOW_BUSY_TIMEOUT_MS must be a positive whole"):
        load_settings(env={"NAPFLOW_BUSY_TIMEOUT_MS": "soon"})
