"""Installed is not enabled: in a project that does not use tenantfixtures, the plugin loaded by
its entry point changes nothing observable (outcomes, terminal, JUnit XML, files)."""

import re
from pathlib import Path

import pytest

PLAIN_PROJECT = """
import socket
import time

import pytest


def test_local_ip_idiom():
    # The common "which interface would I use" trick: a UDP connect sends no packet.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 80))
        assert probe.getsockname()[0]
    finally:
        probe.close()


def test_fails():
    assert 1 + 1 == 3


@pytest.mark.parametrize("n", range(3))
def test_durations_are_real(n):
    started = time.time()
    assert time.time() >= started
"""

_VOLATILE = re.compile(
    r"^(platform |rootdir|plugins:|cachedir|configfile).*$|\d+\.\d+s|in \d+\.\d+s", re.M
)


def _tree(root: Path) -> list[str]:
    """The project's files, without pytester's own (its basetemp dirs and captured output)."""
    pytesters = ("runpytest-", "stdout", "stderr")
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*")
        if "__pycache__" not in path.parts
        and not path.relative_to(root).parts[0].startswith(pytesters)
    )


def _junit(path: Path) -> str:
    text = path.read_text()
    return re.sub(r' (time|timestamp|hostname)="[^"]*"', "", text)


def test_a_plain_project_sees_no_difference(pytester: pytest.Pytester):
    pytester.makepyfile(test_plain=PLAIN_PROJECT)
    runs = {}
    for name, extra in (("installed", []), ("absent", ["-p", "no:tenantfixtures"])):
        before = _tree(pytester.path)
        result = pytester.runpytest_subprocess(
            "-p", "no:randomly", "-p", "no:cacheprovider", f"--junitxml={name}.xml", *extra
        )
        created = sorted(set(_tree(pytester.path)) - set(before) - {f"{name}.xml"})
        runs[name] = (
            result.parseoutcomes(),
            _VOLATILE.sub("", result.stdout.str()).replace(f"{name}.xml", "X.xml"),
            _junit(pytester.path / f"{name}.xml"),
            created,
        )
    assert runs["installed"][0] == {"passed": 4, "failed": 1}
    assert runs["installed"] == runs["absent"]
    assert "tenantfixtures" not in runs["installed"][1]
    assert "tenantfixtures_seed" not in runs["installed"][2]
