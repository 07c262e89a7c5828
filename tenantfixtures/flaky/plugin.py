"""pytest wiring for the flaky-test recorder and quarantine (options and hooks live here).

Nothing is registered unless its option is set, so runs without ``--tf-history`` pay nothing.
"""

from pathlib import Path

import pytest

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.order import OrderControl, read_selection
from tenantfixtures.flaky.record import Recorder


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenantfixtures-flaky", "tenantfixtures flaky-test detector")
    group.addoption(
        "--tf-history",
        dest="tf_history",
        metavar="PATH_OR_URL",
        help="record every test attempt into this history store (SQLite file or SQLAlchemy URL)",
    )
    parser.addini(
        "tenantfixtures_history", "default for --tf-history (SQLite path or SQLAlchemy URL)"
    )
    group.addoption(
        "--tf-quarantine",
        dest="tf_quarantine",
        metavar="FILE",
        help=f"quarantine file (TOML); default {quarantine.DEFAULT_FILE} in the rootdir if present",
    )
    parser.addini("tenantfixtures_quarantine", "default for --tf-quarantine")
    group.addoption(
        "--tf-shuffle-seed",
        dest="tf_shuffle_seed",
        type=int,
        metavar="N",
        help="shuffle the collected tests with this seed (used by tenantfixtures nightly)",
    )
    group.addoption(
        "--tf-select",
        dest="tf_select",
        metavar="FILE",
        help="run exactly the node ids listed in FILE, in that order (used by nightly)",
    )


def _quarantine_path(config: pytest.Config) -> Path | None:
    value = config.getoption("tf_quarantine") or config.getini("tenantfixtures_quarantine")
    if value:
        path = Path(value)
        return path if path.is_absolute() else config.rootpath / path
    default = config.rootpath / quarantine.DEFAULT_FILE
    return default if default.is_file() else None


def _configure_quarantine(config: pytest.Config) -> None:
    path = _quarantine_path(config)
    if path is None:
        return
    try:
        entries = quarantine.load(path)
    except quarantine.QuarantineError as exc:
        raise pytest.UsageError(str(exc)) from exc
    stale = quarantine.expired(entries)
    if stale:
        raise pytest.UsageError(quarantine.expiry_message(stale, path))
    if entries and not hasattr(config, "workerinput"):
        config.pluginmanager.register(quarantine.QuarantinePlugin(entries), "tf-quarantine")


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("tf_shuffle_seed")
    selection = config.getoption("tf_select")
    if seed is not None or selection:
        order = OrderControl(seed, read_selection(selection) if selection else None)
        config.pluginmanager.register(order, "tf-order")
    _configure_quarantine(config)
    target = config.getoption("tf_history") or config.getini("tenantfixtures_history")
    if target and not hasattr(config, "workerinput"):
        config.pluginmanager.register(Recorder(config, str(target)), "tf-recorder")
