"""A read-only checkout (a CI cache, a mounted source tree) runs, and stays as it was.

Permissions mean nothing to root, so this runs only for other users: ``.ci/run`` runs
``tests/db`` as a throwaway non-root user (``scripts/nonroot.sh``).
"""

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.db.conftest import ISOLATION_MODES, snapshot

TESTS = """
import miniapp


def test_signs_up(tenancy):
    miniapp.sign_up("acme")
    miniapp.add_note("acme", "hello")
    assert miniapp.notes("acme") == ["hello"]
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() == 0, reason="root ignores file permissions; .ci/run runs this as non-root"
)


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~bits)


@pytest.fixture
def read_only_checkout(mini_project: pytest.Pytester, tmp_path: Path) -> Iterator[Path]:
    """The mini project copied to a directory of its own, then made read-only (pytester's own
    directory must stay writable for pytester)."""
    mini_project.makepyfile(test_signup=TESTS)
    mini_project.makeini("[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n")
    checkout = tmp_path / "checkout"
    shutil.copytree(mini_project.path, checkout, ignore=shutil.ignore_patterns("checkout"))
    _set_writable(checkout, False)
    yield checkout
    _set_writable(checkout, True)  # so pytest can clean its temp dir


@pytest.mark.parametrize("mode", ISOLATION_MODES)
def test_a_read_only_checkout_runs_and_is_left_as_it_was(
    read_only_checkout: Path, tmp_path: Path, mode: str
) -> None:
    before = snapshot(read_only_checkout)
    command = [sys.executable, "-m", "pytest", f"--basetemp={tmp_path / 'inner'}"]
    command += [f"--tf-isolation={mode}", "-p", "no:randomly"]
    started = time.monotonic()
    process = subprocess.run(command, cwd=read_only_checkout, capture_output=True, text=True)
    print(process.stdout, process.stderr)  # shown if the run fails
    result = pytest.RunResult(
        process.returncode,
        process.stdout.splitlines(),
        process.stderr.splitlines(),
        time.monotonic() - started,
    )
    result.assert_outcomes(passed=1)
    assert "INTERNALERROR" not in process.stdout + process.stderr
    assert snapshot(read_only_checkout) == before
