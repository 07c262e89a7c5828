"""Installed is not enabled: what switches tenantfixtures on in a project.

The ``pytest11`` entry point loads the plugin into every project of the environment; like
pytest-django without settings, it changes nothing until the project asks for it:
- the project configured it: ``-p tenantfixtures``, any ``tenantfixtures_*`` ini option, any
  ``--tf-*`` option (``asked_for``);
- or a test uses it: requests one of our fixtures, or its conftest overrides
  ``tenant_topology`` (``used_by``).
"""

from __future__ import annotations

import pytest

OUR_FIXTURES = frozenset({"tenancy", "system_db", "tenant_db", "openrouter", "virtual_clock"})
_PLUGIN_MODULE = "tenantfixtures.plugin"


def asked_for(config: pytest.Config) -> bool:
    """The run configures tenantfixtures (known before any conftest is imported)."""
    namespace = config.known_args_namespace
    if "tenantfixtures" in (getattr(namespace, "plugins", None) or []):
        return True
    if any(str(key).startswith("tenantfixtures_") for key in _ini_keys(config)):
        return True
    options = vars(namespace) | vars(config.option)
    return any(
        value not in (None, False, [], "")
        for key, value in options.items()
        if key.startswith("tf_")
    )


def used_by(item: pytest.Item) -> bool:
    """The test requests a fixture of ours, or its project defines its own topology."""
    if OUR_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get("tenant_topology", ()) if info is not None else ()
    return any(
        getattr(definition.func, "__module__", _PLUGIN_MODULE) != _PLUGIN_MODULE
        for definition in definitions
    )


def enabled_for(item: pytest.Item) -> bool:
    return asked_for(item.config) or used_by(item)


def _ini_keys(config: pytest.Config) -> list[str]:
    """The keys the ini file sets. getini() cannot tell a set option from its default, so read
    the parsed file: ``_inicfg`` on pytest 9 (where ``inicfg`` is deprecated), ``inicfg`` before."""
    raw = getattr(config, "_inicfg", None)
    if raw is None:
        raw = config.inicfg
    return [str(key) for key in raw]
