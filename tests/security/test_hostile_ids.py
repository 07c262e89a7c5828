"""Security proof (issue 10): tenant ids by entry points, in both isolation modes.

One inner session per isolation mode runs every (id, entry point) row as its own test. Each row
first seeds tenant ``acme`` with one row, then writes a row carrying a unique marker through its
entry point with the id, and writes down what happened (the exception, acme's rows, every file
of the test's data dir holding the marker) as one JSON line. The outer test sorts each row:

* **refused with a clear error**: a hostile id raised ``UnsafeTenantIdError`` or
  ``UnsafeDatabasePathError`` whose message names the tenant id problem, and wrote nothing;
* **allowed as expected**: a control id whose row landed in its own database, and only there;
* **leaked**: acme's rows changed, a file outside the test's sandbox holds the marker (the real
  data dir, hashed before and after, changed; or anything else in the project), or a hostile id
  was silently accepted and wrote somewhere;
* **crashed**: any other exception (a raw ``OSError``, a control id refused), a row that did not
  report, an INTERNALERROR.

The walk asserts ``leaked == 0`` and ``crashed == 0`` and records its counts (``conftest.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.db.conftest import ISOLATION_MODES, MINI_APP, TOPOLOGY_CONFTEST, snapshot

from .conftest import record_counts

HOSTILE: list[str] = [
    # climbing to another tenant, literally or once a URL is percent-decoded
    "../acme",
    "x/../acme",
    "acme/../acme",
    "x%2f..%2facme",
    "..%2facme",
    "%2e%2e",
    "\\..\\acme",
    "..\\..\\acme",
    # climbing out of the data dir (into the project, next to it)
    "../../escape",
    "../../../escape",
    # empty and relative names, separators, absolute paths
    "",
    ".",
    "..",
    "a/b",
    "acme/",
    "a\\b",
    "/etc/passwd",
    "C:\\acme",
    # URL and SQLite URI syntax
    "a?mode=ro",
    "a#b",
    "acme%00",
    # too long for a file name (256 and 200 bytes)
    "é" * 128,
    "a" * 200,
    # NUL and control characters
    "a\x00b",
    "acme\x00",
    "a\nb",
    "acme\r",
    "del\x7f",
    "tab\tid",
    "\x1b[31macme",
    # names that read as another tenant in a log
    " acme",
    "acme ",
]
# Safe ids: each must get its own database. '~' and '$HOME' mean something to a shell only:
# no Python file API expands them, so they are plain names.
CONTROL: list[str] = ["acme2", "org_1", "a..b", "Ünïcode", "42", "a-b.c", "é" * 64, "~", "$HOME"]
IDS = HOSTILE + CONTROL

# Entry points: the inner test named test_<entry> writes through it.
ENTRIES = ("tenant", "tenant_path", "tenant_engine", "using", "only", "app", "raw_sqlite", "marker")

INNER = """
import json
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

import miniapp

IDS = {ids!r}
RESULTS = os.path.abspath("hostile_results.jsonl")
INSERT = "INSERT INTO notes (body) VALUES (:b)"
SEED = "acme-seed-row"


def marker_of(entry, n):
    return f"HOSTILE-ROW-{{entry}}-{{n}}-END"


def seed(tenancy):
    with tenancy.tenant_engine("acme").begin() as conn:
        conn.execute(text(INSERT), {{"b": SEED}})


def report(tenancy, entry, n, raised):
    marker = marker_of(entry, n).encode()
    with tenancy.tenant_engine("acme").connect() as conn:
        acme = [row[0] for row in conn.execute(text("SELECT body FROM notes ORDER BY id"))]
    landed = []
    for path in sorted(tenancy.data_dir.rglob("*")):
        if path.is_file() and not path.is_symlink() and marker in path.read_bytes():
            landed.append(path.relative_to(tenancy.data_dir).as_posix())
    row = {{
        "entry": entry,
        "n": n,
        "raised": None if raised is None else type(raised).__name__,
        "module": None if raised is None else type(raised).__module__,
        "message": None if raised is None else str(raised),
        "acme": acme,
        "landed": landed,
    }}
    with open(RESULTS, "a", encoding="utf-8") as results:
        results.write(json.dumps(row) + "\\n")


def insert_raw(path, marker):
    # the marker row through the sqlite3 module, as raw app code writes
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notes"
        " (id INTEGER PRIMARY KEY, body VARCHAR, stars INTEGER DEFAULT 0)"
    )
    conn.execute("INSERT INTO notes (body) VALUES (?)", (marker,))
    conn.commit()
    conn.close()


def insert_in(session, marker):
    session.execute(text(INSERT), {{"b": marker}})
    session.commit()


def walk(tenancy, entry, n, write):
    seed(tenancy)
    raised = None
    try:
        write(IDS[n], marker_of(entry, n))
    except Exception as exc:
        raised = exc
    report(tenancy, entry, n, raised)


ROWS = [pytest.param(n, id=f"r{{n}}") for n in range(len(IDS))]


@pytest.mark.parametrize("n", ROWS)
def test_tenant(tenancy, n):
    def write(tid, marker):
        insert_in(tenancy.tenant(tid), marker)

    walk(tenancy, "tenant", n, write)


@pytest.mark.parametrize("n", ROWS)
def test_tenant_path(tenancy, n):
    def write(tid, marker):
        path = tenancy.tenant_path(tid)
        path.parent.mkdir(parents=True, exist_ok=True)
        insert_raw(path, marker)

    walk(tenancy, "tenant_path", n, write)


@pytest.mark.parametrize("n", ROWS)
def test_tenant_engine(tenancy, n):
    def write(tid, marker):
        with tenancy.tenant_engine(tid).begin() as conn:
            conn.execute(text(INSERT), {{"b": marker}})

    walk(tenancy, "tenant_engine", n, write)


@pytest.mark.parametrize("n", ROWS)
def test_using(tenancy, n):
    def write(tid, marker):
        with tenancy.using(tid):
            insert_in(tenancy.tenant(), marker)

    walk(tenancy, "using", n, write)


@pytest.mark.parametrize("n", ROWS)
def test_only(tenancy, n):
    def write(tid, marker):
        with tenancy.only(tid):
            miniapp.add_note(tid, marker)

    walk(tenancy, "only", n, write)


@pytest.mark.parametrize("n", ROWS)
def test_app(tenancy, n):
    walk(tenancy, "app", n, miniapp.add_note)


@pytest.mark.parametrize("n", ROWS)
def test_raw_sqlite(tenancy, n):
    def write(tid, marker):
        os.makedirs(f"data/organizations/{{tid}}", exist_ok=True)
        insert_raw(f"data/organizations/{{tid}}/tenant.db", marker)

    walk(tenancy, "raw_sqlite", n, write)


@pytest.mark.parametrize(
    "n", [pytest.param(n, id=f"r{{n}}", marks=pytest.mark.tenants(IDS[n])) for n in range(len(IDS))]
)
def test_marker(tenancy, tenant_db, n):
    def write(tid, marker):
        tenant_db.execute(text(INSERT), {{"b": marker}})
        tenant_db.commit()

    walk(tenancy, "marker", n, write)
"""

REFUSALS = {"UnsafeTenantIdError", "UnsafeDatabasePathError"}
# Files the walk itself writes in the inner project: never a place a row may land.
OWN_FILES = {"hostile_results.jsonl", "ids.xml"}
MARKER = re.compile(rb"HOSTILE-ROW-[a-z_]+-[0-9]+-END")


def _seed_real_data_dir(data: Path) -> None:
    """Real rows for the system and for acme, so that a write reaching them shows."""
    system = sqlite3.connect(data / "system.db")
    system.execute("CREATE TABLE orgs (id VARCHAR PRIMARY KEY)")
    system.execute("INSERT INTO orgs VALUES ('acme')")
    system.commit()
    system.close()
    (data / "organizations" / "acme").mkdir(parents=True)
    acme = sqlite3.connect(data / "organizations" / "acme" / "tenant.db")
    acme.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR, stars INTEGER)")
    acme.execute("INSERT INTO notes (body) VALUES ('real acme row')")
    acme.commit()
    acme.close()


def _files_holding_markers(roots: list[Path]) -> dict[str, list[str]]:
    """Marker -> real files (outside any sandbox) holding it, read as bytes."""
    found: dict[str, list[str]] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.name in OWN_FILES or path.suffix in (".py", ".pyc") or path.is_symlink():
                continue
            if path.is_file():
                for marker in set(MARKER.findall(path.read_bytes())):
                    found.setdefault(marker.decode(), []).append(str(path))
    return found


def _clear(message: str) -> bool:
    """A refusal whose message names the tenant id problem."""
    return "tenant id" in message.lower()


def _judge(row: dict[str, Any], tenant_id: str, outside: list[str]) -> tuple[str, str | None]:
    """The verdict for one row that reported, with the reason when it is not a good one."""
    raised, message = row["raised"], str(row["message"] or "")
    landed = list(row["landed"])
    expected = f"organizations/{tenant_id}/tenant.db"
    if row["acme"] != ["acme-seed-row"]:
        return "leaked", f"acme's rows changed to {row['acme']!r}"
    if outside:
        return "leaked", f"the row reached real files outside the sandbox: {outside}"
    if tenant_id in HOSTILE:
        if landed:
            return "leaked", f"wrote to {landed} ({raised or 'no error'}: {message})"
        if raised is None:
            return "leaked", "silently accepted (no error, nothing found in the data dir)"
        if raised in REFUSALS and _clear(message):
            return "refused", None
        if raised == "ValueError" and "embedded null" in message:  # "byte" or "character"
            return "refused", None  # Python refuses NUL in any path before a file is touched
        return "crashed", f"{row['module']}.{raised}: {message}"
    if raised is not None:
        return "crashed", f"a safe id failed: {row['module']}.{raised}: {message}"
    if landed != [expected]:
        return "crashed", f"the row landed in {landed}, not in {expected}"
    return "allowed", None


@pytest.mark.parametrize("mode", ISOLATION_MODES)
def test_tenant_ids_times_entry_points(
    pytester: pytest.Pytester, record_property: Callable[[str, object], None], mode: str
) -> None:
    pytester.makepyfile(miniapp=textwrap.dedent(MINI_APP))
    pytester.makeconftest(textwrap.dedent(TOPOLOGY_CONFTEST))
    pytester.makeini("[pytest]\npythonpath = .\n")
    data = pytester.path / "data"
    (data / "defaults").mkdir(parents=True)
    (data / "defaults" / "readme.txt").write_text("shipped with the app\n")
    _seed_real_data_dir(data)
    pytester.makepyfile(test_hostile_ids=INNER.format(ids=IDS))
    before = snapshot(data)
    result = pytester.runpytest_subprocess(
        "-p", "tenantfixtures", "-p", "no:randomly", f"--tf-isolation={mode}", "--junitxml=ids.xml"
    )
    output = result.stdout.str() + result.stderr.str()
    counts: Counter[str] = Counter()
    problems: list[str] = []
    if result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) or (
        "INTERNALERROR" in output
    ):
        counts["crashed"] += 1
        problems.append(f"crashed: the inner run ended with {result.ret}:\n{output[-4000:]}")

    after = snapshot(data)
    if after != before:
        changed = sorted(
            name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
        )
        counts["leaked"] += 1
        problems.append(f"leaked: the real data dir changed: {changed}")
    # The real files a row may have reached: the project (real data dir included) and its parent.
    outside = _files_holding_markers([pytester.path, pytester.path.parent / "escape"])

    results_file = pytester.path / "hostile_results.jsonl"
    lines = results_file.read_text(encoding="utf-8").splitlines() if results_file.exists() else []
    reported = {(row["entry"], row["n"]): row for row in map(json.loads, lines)}
    xml = pytester.path / "ids.xml"
    cases = (
        {
            case.get("name", ""): case
            for case in ET.parse(xml).iter("testcase")
            if case.get("classname", "").endswith("test_hostile_ids")
        }
        if xml.exists()
        else {}
    )
    for entry in ENTRIES:
        for n, tenant_id in enumerate(IDS):
            label = f"{entry}({tenant_id!r})"
            hits = outside.get(f"HOSTILE-ROW-{entry}-{n}-END", [])
            row = reported.get((entry, n))
            case = cases.get(f"test_{entry}[r{n}]")
            failure = None
            if case is not None:
                failure = case.find("error")
                failure = case.find("failure") if failure is None else failure
            message = (
                "" if failure is None else (failure.get("message") or "") + (failure.text or "")
            )
            if row is None:
                # Only the marker refuses before the body runs: the setup error is the verdict.
                if hits:
                    verdict, why = "leaked", f"reached real files {hits}: {message[-600:]}"
                elif (
                    entry == "marker"
                    and tenant_id in HOSTILE
                    and case is not None
                    and case.find("error") is not None
                    and any(name in message for name in REFUSALS)
                    and _clear(message)
                    and "INTERNALERROR" not in message
                ):
                    verdict, why = "refused", None
                else:
                    verdict, why = "crashed", f"did not report: {message[-600:] or 'not run'}"
            else:
                verdict, why = _judge(row, tenant_id, hits)
                if verdict in ("refused", "allowed") and failure is not None:
                    verdict, why = "crashed", f"the inner test failed: {message[-600:]}"
            counts[verdict] += 1
            if why is not None:
                problems.append(f"{verdict}: [{mode}] {label}: {why}")
    record_counts(record_property, counts, problems)
