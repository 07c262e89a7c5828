"""A fake app data dir with real files, its sandbox copy, and an installed ``FileRedirect``."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tenantfixtures.sandbox.files import FileRedirect

Snapshot = dict[str, tuple[int, int, str]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root``: mode, size and a hash of its bytes (or of its link)."""
    state: Snapshot = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                digest = "link:" + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest = "dir"
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            state[str(path.relative_to(root))] = (info.st_mode, size, digest)
    return state


@dataclass
class Tree:
    app: Path  # the project root, parent of the data dir
    real: Path  # the app's real data dir
    sandbox: Path  # the test's copy
    outside: Path  # an unrelated directory beside them
    before: Snapshot

    def sandbox_text(self, relative: str) -> str:
        return (self.sandbox / relative).read_text()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    app = tmp_path / "app"
    real = app / "data"
    (real / "organizations" / "acme").mkdir(parents=True)
    (real / "defaults").mkdir()
    (real / "system.db").write_bytes(b"SQLite format 3\x00system")
    (real / "organizations" / "acme" / "tenant.db").write_bytes(b"SQLite format 3\x00acme")
    (real / "organizations" / "acme" / "config.yaml").write_text("name: Acme\nplan: pro\n")
    (real / "invitations.json").write_text('{"invitations": []}')
    (real / "defaults" / "catalog.json").write_text('{"models": ["a", "b"]}')
    (real / "defaults" / "catalog.json").chmod(0o444)
    sandbox = tmp_path / "sandbox"
    shutil.copytree(real, sandbox)
    outside = tmp_path / "outside"
    outside.mkdir()
    return Tree(app, real, sandbox, outside, snapshot(real))


@pytest.fixture
def redirect(tree: Tree) -> Iterator[FileRedirect]:
    """Installed and active; afterwards the process is unpatched and the real dir unchanged."""
    files = FileRedirect(tree.real)
    try:
        files.install()
        files.target = tree.sandbox
        yield files
    finally:
        files.target = None
        files.uninstall()
    assert snapshot(tree.real) == tree.before, "the real data dir changed"
