"""pytest wiring for the flaky-test recorder and quarantine (options and hooks live here).

Nothing is registered unless its option is set, so runs without ``--tf-history`` pay nothing:
the recorder and its store (SQLAlchemy) are imported only then.
"""

import tempfile
from pathlib import Path

import pytest

from tenantfixtures.flaky import quarantine
from tenantfixtures.flaky.order import OrderControl, read_selection


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenantfixtures-flaky", "tenantfixtures flaky-test detector")
    group.addoption(
        "--tf-history",
        dest="tf_history",
        metavar="PATH_OR_URL",
        help="record every test attempt into this history store (SQLite file or SQLAlchemy URL;"
        " default: the ini option tenantfixtures_history, else no recording)",
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
        help="shuffle the collected tests with this seed (used by tenantfixtures nightly;"
        " default: no shuffle)",
    )
    group.addoption(
        "--tf-select",
        dest="tf_select",
        metavar="FILE",
        help="run exactly the node ids listed in FILE, in that order (used by nightly and"
        " replay; default: every collected test)",
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


def _configure_recorder(config: pytest.Config, target: str) -> None:
    from tenantfixtures.flaky.record import Recorder

    recorder = Recorder(config, target, _spool_dir(config, target))
    config.pluginmanager.register(recorder, "tf-recorder")


def _spool_dir(config: pytest.Config, target: str) -> Path:
    """Create the history's journal directory now, so a bad location is one usage error."""
    from tenantfixtures.flaky.store import DEFAULT_HISTORY, label, spool_dir_for

    try:
        spool = spool_dir_for(target, config.rootpath)
        problem = _unusable(target, spool)
    except (OSError, RuntimeError) as exc:  # a name too long, ~ of an unknown user
        problem = f"not a usable path: {getattr(exc, 'strerror', None) or exc}"
    if problem is not None:
        raise pytest.UsageError(
            f"--tf-history={label(target)}: {problem}; pass a file in a writable directory,"
            f" e.g. --tf-history={DEFAULT_HISTORY}"
        )
    return spool


def _unusable(target: str, spool: Path) -> str | None:
    """Why the recorder could not keep its journal (or the SQLite file) there, if it cannot."""
    if "://" not in target and Path(target).expanduser().is_dir():
        return "it is a directory"
    try:
        spool.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {spool}: {exc.strerror or exc}"
    if not (spool / ".").exists():
        return f"{spool} is not a directory"
    try:  # a file of its own: sessions sharing the history check at the same moment
        with tempfile.NamedTemporaryFile(dir=spool, prefix=".tf-write-check-"):
            pass
    except OSError as exc:
        return f"cannot write in {spool}: {exc.strerror or exc}"
    return None


def pytest_tenantfixtures_passthrough_paths(config: pytest.Config) -> list[Path]:
    """A SQLite history and its journals are the recorder's, written while tests run: never
    sandboxed, and the sandbox refuses them inside the app's data dir (one usage error)."""
    target = config.known_args_namespace.tf_history or config.getini("tenantfixtures_history")
    if not target or "://" in str(target):
        return []
    from tenantfixtures.flaky.store import spool_dir_for

    try:
        path = Path(target).expanduser().resolve()
        return [path, spool_dir_for(str(path), config.rootpath)]
    except (OSError, RuntimeError):  # pytest_configure names the problem as a usage error
        return []


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("tf_shuffle_seed")
    selection = config.getoption("tf_select")
    if seed is not None or selection:
        order = OrderControl(seed, read_selection(selection) if selection else None)
        config.pluginmanager.register(order, "tf-order")
    _configure_quarantine(config)
    target = config.getoption("tf_history") or config.getini("tenantfixtures_history")
    if target and not hasattr(config, "workerinput"):
        _configure_recorder(config, str(target))
