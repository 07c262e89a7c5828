"""Security proof (issue 10): bad configurations, each one inner project with one mistake.

Every row lays down the mini app configured through the ini file, a real data dir holding a real
system database (one row, ``real-org``), one ordinary test, and one mistake; then runs pytest on it
in a subprocess and sorts the run:

* **refused with a clear error**: a usage error (exit code 4), or a per-test error, whose text
  names the option or value at fault, with no traceback from tenantfixtures internals;
  the history rows, whose promise is "one clear error while the run completes", may also end 0;
* **allowed as expected**: the control row (the same project without a mistake) passes;
* **leaked**: the run passed silently, the real data dir changed (hashed before and after), the
  test saw the real system database's row, or a secret appears in the output;
* **crashed**: an INTERNALERROR, exit code 3 (or any other unexpected exit code), a traceback from
  tenantfixtures internals, or an error that does not name what is wrong.

The walk asserts ``leaked == 0`` and ``crashed == 0`` and records its counts (``conftest.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.db.conftest import MINI_APP, snapshot

from .conftest import record_counts

SECRET = "s3cr3t"

BASE_INI = {
    "pythonpath": ".",
    "asyncio_default_fixture_loop_scope": "function",
    "tenantfixtures_system_metadata": "miniapp:SystemBase.metadata",
    "tenantfixtures_tenant_metadata": "miniapp:TenantBase.metadata",
    "tenantfixtures_data_dir": "data",
    "tenantfixtures_engine_caches": "miniapp:_tenant_engines",
}

# The one ordinary test: it writes down which system rows it saw (the real one must stay
# invisible) and uses the app as usual.
APP_TEST = """
import json

from sqlalchemy import text

import miniapp


def test_the_app_in_its_sandbox(tenancy):
    with miniapp.SystemSessionLocal() as session:
        orgs = [row[0] for row in session.execute(text("SELECT id FROM orgs"))]
    with open("seen_orgs.json", "w", encoding="utf-8") as seen:
        json.dump(orgs, seen)
    miniapp.sign_up("acme")
    miniapp.add_note("acme", "hello")
    assert miniapp.notes("acme") == ["hello"]
"""

ASYNC_TEST = """
import asyncio

import pytest


@pytest.mark.asyncio
async def test_sleeps():
    await asyncio.sleep(1)
"""

QUARANTINE_ENTRY = """
test = "test_app.py::test_the_app_in_its_sandbox"
owner = "alice"
reason = "walk row"
expires = {expires}
"""


@dataclass(frozen=True)
class Row:
    name: str
    ini: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    # Each of these must appear in the output for a refusal to count as clear ("a|b": either).
    names: tuple[str, ...] = ()
    # The history store's promise: one clear error, and the run completes.
    may_complete: bool = False
    control: bool = False


ROWS: list[Row] = [
    Row("control: the project without a mistake", control=True),
    # isolation and guards
    Row("--tf-isolation=bogus", args=("--tf-isolation=bogus",), names=("bogus",)),
    Row(
        "ini tenantfixtures_isolation = bogus",
        ini={"tenantfixtures_isolation": "bogus"},
        names=("tenantfixtures_isolation", "bogus"),
    ),
    Row("--tf-guard=maybe", args=("--tf-guard=maybe",), names=("--tf-guard", "maybe")),
    Row(
        "ini tenantfixtures_guard = maybe",
        ini={"tenantfixtures_guard": "maybe"},
        names=("tenantfixtures_guard", "maybe"),
    ),
    Row(
        "allowed host given as a URL",
        ini={"tenantfixtures_allowed_hosts": "https://api.example.com/v1"},
        names=("tenantfixtures_allowed_hosts", "https://api.example.com/v1"),
    ),
    Row(
        "allowed host with a named port",
        ini={"tenantfixtures_allowed_hosts": "api.example.com:https"},
        names=("tenantfixtures_allowed_hosts", "api.example.com:https"),
    ),
    Row(
        "allowed host with a wildcard inside",
        ini={"tenantfixtures_allowed_hosts": "api*.example.com"},
        names=("tenantfixtures_allowed_hosts", "api*.example.com"),
    ),
    Row(
        "redirect copy limit 'lots'",
        ini={"tenantfixtures_redirect_copy_limit": "lots"},
        names=("tenantfixtures_redirect_copy_limit", "lots"),
    ),
    # the layout
    Row(
        "system_db typo 'systen.db' beside the real data/system.db",
        ini={"tenantfixtures_system_db": "systen.db"},
        names=("systen.db",),
    ),
    Row(
        "data_dir typo 'dat' beside the real data/",
        ini={"tenantfixtures_data_dir": "dat"},
        names=("dat",),
    ),
    Row("system_db = .", ini={"tenantfixtures_system_db": "."}, names=("system_db", "'.'")),
    Row(
        "system_db = ../system.db",
        ini={"tenantfixtures_system_db": "../system.db"},
        names=("system_db", "../system.db"),
    ),
    Row(
        "system_db an absolute path",
        ini={"tenantfixtures_system_db": "{root}/elsewhere/system.db"},
        names=("system_db", "{root}/elsewhere/system.db"),
    ),
    Row(
        "tenant_db without {tenant}",
        ini={"tenantfixtures_tenant_db": "organizations/tenant.db"},
        names=("tenant_db", "{tenant}"),
    ),
    Row(
        "tenant_db with {tenant} twice",
        ini={"tenantfixtures_tenant_db": "{tenant}/{tenant}.db"},
        names=("tenant_db", "{tenant}"),
    ),
    Row(
        "default tenant '../acme'",
        ini={"tenantfixtures_default_tenant": "../acme"},
        names=("../acme",),
    ),
    # import paths
    Row(
        "metadata in a missing module",
        ini={"tenantfixtures_system_metadata": "nomodule:x"},
        names=("nomodule",),
    ),
    Row(
        "metadata attribute missing",
        ini={"tenantfixtures_system_metadata": "miniapp:Missing"},
        names=("Missing",),
    ),
    Row(
        "metadata path without a colon",
        ini={"tenantfixtures_system_metadata": "miniapp.x"},
        names=("miniapp.x",),
    ),
    Row(
        "metadata module raising RuntimeError on import",
        ini={"tenantfixtures_tenant_metadata": "badmeta:metadata"},
        files={"badmeta.py": 'raise RuntimeError("badmeta cannot be imported today")\n'},
        names=("badmeta",),
    ),
    Row(
        "system metadata that is not a MetaData",
        ini={"tenantfixtures_system_metadata": "miniapp:DATA_DIR"},
        names=("tenantfixtures_system_metadata|miniapp:DATA_DIR", "MetaData"),
    ),
    Row(
        "engine cache attribute missing",
        ini={"tenantfixtures_engine_caches": "miniapp:no_such_cache"},
        names=("no_such_cache",),
    ),
    # the flaky-test history
    Row(
        "--tf-history whose parent is a file",
        args=("--tf-history=afile/history.db",),
        files={"afile": "not a directory\n"},
        names=("afile",),
        may_complete=True,
    ),
    Row(
        "--tf-history under the app's data dir",
        args=("--tf-history=data/history.db",),
        names=("data/history.db",),
        may_complete=True,
    ),
    Row(
        "--tf-history on an unreachable PostgreSQL with a password",
        args=(f"--tf-history=postgresql+psycopg://tf:{SECRET}@127.0.0.1:1/x",),
        names=("127.0.0.1",),
        may_complete=True,
    ),
    # quarantine
    Row(
        "quarantine file with [[quarantined]] (typo)",
        files={
            "tenantfixtures-quarantine.toml": "[[quarantined]]"
            + QUARANTINE_ENTRY.format(expires="2099-01-01")
        },
        names=("quarantined",),
    ),
    Row(
        "quarantine entry with an unknown key",
        files={
            "tenantfixtures-quarantine.toml": "[[quarantine]]"
            + QUARANTINE_ENTRY.format(expires="2099-01-01")
            + 'ticket = "#123"\n'
        },
        names=("ticket",),
    ),
    Row(
        "quarantine entry expired in 2020",
        files={
            "tenantfixtures-quarantine.toml": "[[quarantine]]"
            + QUARANTINE_ENTRY.format(expires="2020-06-30")
        },
        names=("2020-06-30",),
    ),
    Row(
        "--tf-quarantine naming a missing file",
        args=("--tf-quarantine=missing-quarantine.toml",),
        names=("missing-quarantine.toml",),
    ),
    # virtual time, migrations
    Row(
        "virtual_time = maybe",
        ini={"tenantfixtures_virtual_time": "maybe"},
        files={"test_async.py": ASYNC_TEST},
        names=("tenantfixtures_virtual_time", "maybe"),
    ),
    Row(
        "tenant snapshot with a SQL syntax error",
        ini={"tenantfixtures_tenant_snapshots": "snapshots/*.sql"},
        files={
            "snapshots/broken.sql": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR;\n"
            "INSERT INTO notes (body) VALUES ('old');\n"
        },
        names=("broken.sql",),
    ),
    Row(
        "alembic = missing.ini",
        ini={"tenantfixtures_alembic": "missing.ini"},
        names=("missing.ini",),
    ),
]

# A traceback frame (Python's or pytest's) or an error raised inside tenantfixtures' own code;
# warnings' locations ("…/tenantfixtures/x.py:12: SAWarning") are not tracebacks.
INTERNAL_TRACEBACK = re.compile(
    r'File "[^"\n]*[/\\]tenantfixtures[/\\][^"\n]+\.py", line \d+'
    r"|[/\\]tenantfixtures[/\\]\S+\.py:\d+: (?:in \S|(?:\w+\.)*\w*(?:Error|Exception)\b)"
)


def _at(text: str, root: Path) -> str:
    """``{root}`` in a row's ini value or expected text is the row's project directory."""
    return text.replace("{root}", str(root))


def _lay_down(root: Path, row: Row) -> None:
    """The row's project: the mini app, its real data dir, its ini file, tests and extra files."""
    root.mkdir()
    (root / "miniapp.py").write_text(textwrap.dedent(MINI_APP), encoding="utf-8")
    (root / "test_app.py").write_text(APP_TEST, encoding="utf-8")
    data = root / "data"
    (data / "defaults").mkdir(parents=True)
    (data / "defaults" / "readme.txt").write_text("shipped with the app\n")
    real = sqlite3.connect(data / "system.db")
    real.execute("CREATE TABLE orgs (id VARCHAR PRIMARY KEY)")
    real.execute("INSERT INTO orgs VALUES ('real-org')")
    real.commit()
    real.close()
    ini = {**BASE_INI, **row.ini}
    lines = "".join(f"{key} = {_at(value, root)}\n" for key, value in ini.items())
    (root / "pytest.ini").write_text(f"[pytest]\n{lines}", encoding="utf-8")
    for name, content in row.files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content, encoding="utf-8")


def _judge(
    row: Row, root: Path, ret: int, output: str, changed: list[str], seen: list[str] | None
) -> tuple[str, str | None]:
    if SECRET in output:
        return "leaked", "the password appears in the output"
    if changed:
        return "leaked", f"the real data dir changed: {changed}"
    if seen is not None and "real-org" in seen:
        return "leaked", f"the test saw the real system database's rows: {seen}"
    if "INTERNALERROR" in output or ret == pytest.ExitCode.INTERNAL_ERROR:
        return "crashed", f"exit code {ret}, INTERNALERROR"
    traceback = INTERNAL_TRACEBACK.search(output)
    if traceback:
        return "crashed", f"exit code {ret}, a traceback from tenantfixtures: {traceback[0]}"
    if row.control:
        if ret == pytest.ExitCode.OK:
            return "allowed", None
        return "crashed", f"the project without a mistake ended with exit code {ret}"
    missing = [
        name
        for name in row.names
        if not any(_at(choice, root) in output for choice in name.split("|"))
    ]
    if ret == pytest.ExitCode.OK and not (row.may_complete and not missing):
        return "leaked", "the run passed silently"
    if ret not in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.OK):
        return "crashed", f"unexpected exit code {ret}"
    if missing:
        return "crashed", f"exit code {ret}, but the output does not name {missing}"
    return "refused", None


def test_bad_configurations(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
) -> None:
    counts: Counter[str] = Counter()
    problems: list[str] = []
    for number, row in enumerate(ROWS):
        root = pytester.path / f"row{number:02d}"
        _lay_down(root, row)
        before = snapshot(root / "data")
        monkeypatch.chdir(root)
        result = pytester.runpytest_subprocess(
            "-p", "tenantfixtures", "-p", "no:randomly", *row.args, timeout=120
        )
        output = result.stdout.str() + "\n" + result.stderr.str()
        after = snapshot(root / "data")
        changed = sorted(
            name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
        )
        seen_file = root / "seen_orgs.json"
        seen = json.loads(seen_file.read_text(encoding="utf-8")) if seen_file.exists() else None
        verdict, why = _judge(row, root, int(result.ret), output, changed, seen)
        counts[verdict] += 1
        if why is not None:
            tail = "\n".join(output.strip().splitlines()[-25:])
            problems.append(f"{verdict}: {row.name}: {why}\n{textwrap.indent(tail, '    | ')}")
    record_counts(record_property, counts, problems)
