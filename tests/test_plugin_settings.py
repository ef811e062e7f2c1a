"""A plugin's install-level settings (``TESSERA_<PLUGIN>_<NAME>``), read through the kernel."""

from __future__ import annotations

import pytest

from core.app import build_registry
from core.plugin_api import Manifest, PluginSetting, plugin_settings
from core.plugins.registry import PluginError
from core.settings import Settings


class AcmePlugin:
    manifest = Manifest(
        name="acme",
        version="1.0",
        title="Acme",
        settings=(
            PluginSetting("batch_size", 50, "Rows per batch"),
            PluginSetting("ratio", 0.5, "A share"),
            PluginSetting("enabled_feature", False, "A switch"),
            PluginSetting("endpoint", "https://acme.example", "Where to send"),
        ),
    )


def _settings(**env: str) -> Settings:
    return Settings(plugin_env=tuple(env.items()))


def test_unset_settings_have_their_defaults():
    assert plugin_settings(_settings(), AcmePlugin.manifest) == {
        "batch_size": 50,
        "ratio": 0.5,
        "enabled_feature": False,
        "endpoint": "https://acme.example",
    }


def test_set_variables_are_read_with_the_setting_type():
    values = plugin_settings(
        _settings(
            TESSERA_ACME_BATCH_SIZE="7",
            TESSERA_ACME_RATIO="0.25",
            TESSERA_ACME_ENABLED_FEATURE="yes",
            TESSERA_ACME_ENDPOINT="http://127.0.0.1:9",
            TESSERA_OTHER_BATCH_SIZE="1",  # another plugin's variable
        ),
        AcmePlugin.manifest,
    )
    assert values == {
        "batch_size": 7,
        "ratio": 0.25,
        "enabled_feature": True,
        "endpoint": "http://127.0.0.1:9",
    }


def test_from_env_keeps_the_tessera_variables_only(monkeypatch):
    monkeypatch.setenv("TESSERA_ACME_BATCH_SIZE", "9")
    monkeypatch.setenv("ACME_BATCH_SIZE", "3")
    env = dict(Settings.from_env().plugin_env)
    assert env["TESSERA_ACME_BATCH_SIZE"] == "9" and "ACME_BATCH_SIZE" not in env
    assert "plugin_env" not in repr(Settings.from_env())  # it holds secrets too


@pytest.mark.parametrize(
    ("variable", "raw", "says"),
    [
        ("TESSERA_ACME_BATCH_SIZE", "lots", "TESSERA_ACME_BATCH_SIZE must be an integer, got 'lots'"),
        ("TESSERA_ACME_RATIO", "half", "TESSERA_ACME_RATIO must be a number, got 'half'"),
        ("TESSERA_ACME_ENABLED_FEATURE", "maybe", "TESSERA_ACME_ENABLED_FEATURE must be 1 or 0, got 'maybe'"),
    ],
)
def test_a_bad_value_stops_the_boot_naming_the_variable(variable, raw, says):
    with pytest.raises(PluginError) as caught:
        build_registry(_settings(**{variable: raw}), extra_plugins=[AcmePlugin()])
    assert str(caught.value) == says


def test_a_setting_name_must_be_a_name():
    bad = Manifest(name="acme", version="1.0", title="Acme", settings=(PluginSetting("Batch-Size", 1),))
    with pytest.raises(ValueError, match="setting name 'Batch-Size' is invalid"):
        bad.check_shape()
