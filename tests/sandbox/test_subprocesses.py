"""SubprocessVeto: process starts that reach the real data dir are refused, others run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tenantfixtures.errors import SandboxEscapeError
from tenantfixtures.sandbox.subprocesses import SubprocessVeto, subprocess_veto

from .conftest import Tree, snapshot


@pytest.fixture
def refusals() -> list[str]:
    return []


@pytest.fixture
def veto(tree: Tree, refusals: list[str]) -> Iterator[SubprocessVeto]:
    veto = subprocess_veto()
    try:
        veto.activate(tree.real, refusals.append)
        yield veto
    finally:
        veto.deactivate()
    assert snapshot(tree.real) == tree.before


def test_a_shell_command_writing_under_the_data_dir_is_refused(
    tree: Tree, veto: SubprocessVeto, refusals: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.app)
    with pytest.raises(SandboxEscapeError) as raised:
        subprocess.run("echo hacked > data/invitations.json", shell=True, check=True)
    message = str(raised.value)
    assert message == refusals[0]
    assert "subprocess.Popen" in message
    assert "data/invitations.json" in message
    assert str(tree.real) in message
    assert "--tf-isolation=namespace" in message


def test_an_absolute_argument_under_the_data_dir_is_refused(
    tree: Tree, veto: SubprocessVeto, refusals: list[str]
) -> None:
    target = tree.real / "organizations" / "acme"
    with pytest.raises(SandboxEscapeError, match="under the app's real data dir"):
        subprocess.run(["rm", "-rf", str(target)], check=True)
    with pytest.raises(SandboxEscapeError):
        subprocess.run(["sqlite3", f"--db={target}/tenant.db"], check=False)
    with pytest.raises(SandboxEscapeError):
        os.system(f"rm -rf {target}")
    assert len(refusals) == 3


def test_a_cwd_inside_the_data_dir_is_refused(
    tree: Tree, veto: SubprocessVeto, refusals: list[str]
) -> None:
    with pytest.raises(SandboxEscapeError, match="working directory"):
        subprocess.run(["touch", "new.txt"], cwd=tree.real / "organizations", check=True)
    assert refusals


def test_an_alias_and_an_explicit_environment_are_seen(
    tree: Tree, veto: SubprocessVeto, refusals: list[str]
) -> None:
    alias = tree.outside / "alias"
    alias.symlink_to(tree.real)
    with pytest.raises(SandboxEscapeError):
        subprocess.run(["touch", str(alias / "x")], check=True)
    with pytest.raises(SandboxEscapeError, match="environment variable DATA_DIR"):
        subprocess.run(["true"], env={"DATA_DIR": str(tree.real)}, check=True)
    assert len(refusals) == 2


@pytest.mark.skipif(not hasattr(os, "posix_spawn"), reason="no posix_spawn")
def test_posix_spawn_and_exec_are_refused(
    tree: Tree, veto: SubprocessVeto, refusals: list[str]
) -> None:
    with pytest.raises(SandboxEscapeError, match=r"os\.posix_spawn"):
        os.posix_spawn("/bin/rm", ["rm", str(tree.real / "system.db")], dict(os.environ))
    with pytest.raises(SandboxEscapeError, match=r"os\.exec"):
        os.execv("/bin/rm", ["rm", str(tree.real / "system.db")])
    assert len(refusals) == 2


def test_unrelated_subprocesses_run(
    tree: Tree, veto: SubprocessVeto, refusals: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.app)
    sibling = f"{tree.real}-backup/x"
    done = subprocess.run(
        [sys.executable, "-c", "print('data')", sibling, "database", "--out=outside/x"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == "data\n"
    assert os.system("true") == 0
    assert subprocess.run(["ls"], cwd=tree.sandbox, capture_output=True, check=True).stdout
    assert refusals == []


def test_nothing_is_refused_once_deactivated(tree: Tree, refusals: list[str]) -> None:
    veto = subprocess_veto()
    veto.activate(tree.real, refusals.append)
    veto.deactivate()
    assert not veto.active
    copy = tree.outside / "copy.db"
    subprocess.run(["cp", str(tree.real / "system.db"), str(copy)], check=True)
    assert copy.read_bytes() == (tree.real / "system.db").read_bytes()
    assert refusals == []
