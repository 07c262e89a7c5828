"""FileRedirect on real files: the sandbox gets every change, the real data dir none."""

from __future__ import annotations

import _io
import builtins
import glob
import io
import json
import os
import shutil
import sys
import threading
import timeit
import types
from os import remove as early_remove  # bound before install: must be redirected too
from os.path import exists as early_exists
from pathlib import Path, PurePosixPath

import pytest

from tenantfixtures.sandbox.files import FileRedirect

from .conftest import Tree, snapshot


def test_open_writes_and_reads_json_and_yaml_in_the_sandbox(
    tree: Tree, redirect: FileRedirect
) -> None:
    invitations = tree.real / "invitations.json"
    with open(invitations, "w") as stream:
        json.dump({"invitations": [{"email": "a@example.com"}]}, stream)
        assert stream.name == str(invitations)
    config = tree.real / "organizations" / "acme" / "config.yaml"
    with open(config, "a", encoding="utf-8") as stream:
        stream.write("seats: 5\n")

    assert json.loads(invitations.read_text())["invitations"][0]["email"] == "a@example.com"
    assert "seats: 5" in tree.sandbox_text("organizations/acme/config.yaml")
    with io.open(config) as stream:  # noqa: UP020  (io.open is patched on its own)
        assert stream.read().endswith("seats: 5\n")
    with open(os.fsencode(config), "rb", buffering=0) as raw:
        assert raw.read().startswith(b"name: Acme")


def test_os_level_file_operations(tree: Tree, redirect: FileRedirect) -> None:
    new = tree.real / "organizations" / "acme" / "notes.txt"
    fd = os.open(new, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"0123456789")
    os.close(fd)
    os.truncate(new, 4)
    os.chmod(new, 0o640)
    os.utime(new, (1_000_000, 1_000_000))

    assert os.stat(new).st_size == 4
    assert os.stat(new).st_mtime == 1_000_000
    assert os.lstat(new).st_mode & 0o777 == 0o640
    assert os.access(new, os.R_OK)
    assert (tree.sandbox / "organizations/acme/notes.txt").read_bytes() == b"0123"
    assert "notes.txt" in os.listdir(tree.real / "organizations" / "acme")

    os.remove(tree.real / "system.db")
    os.unlink(tree.real / "invitations.json")
    assert not os.path.exists(tree.real / "system.db")
    assert not (tree.sandbox / "system.db").exists()
    assert not (tree.sandbox / "invitations.json").exists()


def test_truncate_through_a_file_object(tree: Tree, redirect: FileRedirect) -> None:
    with open(tree.real / "system.db", "r+b") as stream:
        stream.truncate(6)
    assert (tree.sandbox / "system.db").read_bytes() == b"SQLite"


def test_mkdir_makedirs_rmdir_and_exists_of_an_app_created_dir(
    tree: Tree, redirect: FileRedirect
) -> None:
    org = os.path.join(str(tree.real), "organizations", "globex", "personalities")
    os.makedirs(org)
    os.makedirs(org, exist_ok=True)
    assert os.path.exists(org)
    assert os.path.isdir(org)
    assert (tree.sandbox / "organizations/globex/personalities").is_dir()
    os.mkdir(os.path.join(org, "tmp"))
    os.rmdir(os.path.join(org, "tmp"))
    os.removedirs(org)
    assert not os.path.exists(os.path.dirname(org))
    assert os.path.isfile(tree.real / "system.db")
    assert os.path.getsize(tree.real / "system.db") == len(b"SQLite format 3\x00system")


@pytest.mark.parametrize("function", [os.rename, os.replace])
def test_rename_within_into_and_out_of_the_data_dir(
    tree: Tree, redirect: FileRedirect, function: object
) -> None:
    move = getattr(os, function.__name__)  # type: ignore[attr-defined]
    move(tree.real / "invitations.json", tree.real / "defaults" / "invitations.json")
    assert (tree.sandbox / "defaults" / "invitations.json").exists()

    incoming = tree.outside / "upload.json"
    incoming.write_text("{}")
    move(incoming, tree.real / "upload.json")
    assert not incoming.exists()
    assert (tree.sandbox / "upload.json").read_text() == "{}"

    move(tree.real / "organizations" / "acme" / "config.yaml", tree.outside / "export.yaml")
    assert (tree.outside / "export.yaml").read_text().startswith("name: Acme")
    assert not (tree.sandbox / "organizations" / "acme" / "config.yaml").exists()


def test_shutil_rmtree_of_an_org_copytree_copyfile_and_move(
    tree: Tree, redirect: FileRedirect
) -> None:
    shutil.copytree(tree.real / "organizations" / "acme", tree.real / "organizations" / "initech")
    assert (tree.sandbox / "organizations/initech/tenant.db").read_bytes().endswith(b"acme")
    shutil.copytree(tree.real / "defaults", tree.outside / "defaults")
    assert (tree.outside / "defaults" / "catalog.json").exists()
    shutil.copyfile(tree.real / "system.db", tree.real / "system.bak")
    shutil.copy2(tree.outside / "defaults" / "catalog.json", tree.real / "catalog.json")
    shutil.move(tree.real / "system.bak", tree.outside / "system.bak")
    assert (tree.outside / "system.bak").read_bytes().endswith(b"system")

    shutil.rmtree(tree.real / "organizations" / "acme")

    assert sorted(os.listdir(tree.sandbox / "organizations")) == ["initech"]
    assert (tree.sandbox / "catalog.json").exists()
    assert not (tree.sandbox / "system.bak").exists()


def test_rmtree_uses_its_fd_based_path_and_dir_fd_passes_through(
    tree: Tree, redirect: FileRedirect
) -> None:
    assert shutil.rmtree.avoids_symlink_attacks
    fd = os.open(tree.real / "organizations" / "acme", os.O_RDONLY)
    try:
        assert os.stat("config.yaml", dir_fd=fd).st_size == len("name: Acme\nplan: pro\n")
        os.unlink("tenant.db", dir_fd=fd)
    finally:
        os.close(fd)
    assert not (tree.sandbox / "organizations/acme/tenant.db").exists()
    shutil.rmtree(tree.real / "organizations")
    assert not (tree.sandbox / "organizations").exists()


def test_a_write_through_a_symlink_alias_of_the_data_dir(
    tree: Tree, redirect: FileRedirect
) -> None:
    alias = tree.outside / "alias"
    with redirect.passthrough():
        alias.symlink_to(tree.real)
        (tree.outside / "tenant-link.db").symlink_to(tree.real / "organizations/acme/tenant.db")
    (alias / "organizations" / "acme" / "config.yaml").write_text("name: Aliased\n")
    with open(tree.outside / "tenant-link.db", "wb") as stream:  # a file symlink into data
        stream.write(b"rewritten")

    assert tree.sandbox_text("organizations/acme/config.yaml") == "name: Aliased\n"
    assert (tree.sandbox / "organizations/acme/tenant.db").read_bytes() == b"rewritten"
    assert redirect.to_sandbox(alias / "system.db") == str(tree.sandbox / "system.db")


def test_a_symlink_made_during_the_test_is_seen(tree: Tree, redirect: FileRedirect) -> None:
    alias = tree.outside / "later"
    assert redirect.to_sandbox(alias / "x") is None  # cached as outside the data dir
    with redirect.passthrough():
        alias.symlink_to(tree.real)  # the wrapper still drops the cache
    assert redirect.to_sandbox(alias / "x") == str(tree.sandbox / "x")


def test_a_symlink_the_app_makes_to_the_data_dir_points_into_the_sandbox(
    tree: Tree, redirect: FileRedirect
) -> None:
    alias = tree.outside / "app-link"
    alias.symlink_to(tree.real / "organizations")
    (alias / "acme" / "new.txt").write_text("through the app's link")
    assert tree.sandbox_text("organizations/acme/new.txt") == "through the app's link"
    assert os.readlink(alias) == str(tree.real / "organizations")
    with redirect.passthrough():
        assert os.readlink(alias) == str(tree.sandbox / "organizations")


def test_functions_bound_by_name_before_install(tree: Tree, redirect: FileRedirect) -> None:
    assert early_remove is os.remove  # the module scan replaced our own binding
    early_remove(tree.real / "invitations.json")
    assert not early_exists(tree.real / "invitations.json")
    assert not (tree.sandbox / "invitations.json").exists()


def test_modules_imported_after_install_are_patched_by_rescan(
    tree: Tree, redirect: FileRedirect, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = types.ModuleType("tf_late_app_module")
    exec("from os import remove, stat\nfrom builtins import open as bopen", late.__dict__)
    monkeypatch.setitem(sys.modules, late.__name__, late)
    redirect.rescan()
    late.remove(tree.real / "system.db")
    with late.bopen(tree.real / "new.txt", "w") as stream:
        stream.write("x")
    assert not (tree.sandbox / "system.db").exists()
    assert (tree.sandbox / "new.txt").exists()

    cost = min(timeit.repeat(redirect.rescan, number=100, repeat=5)) / 100
    assert cost < 0.0005


def test_pathlib(tree: Tree, redirect: FileRedirect) -> None:
    org = tree.real / "organizations" / "globex"
    (org / "personalities").mkdir(parents=True)
    (org / "settings.json").write_text('{"theme": "dark"}')
    (org / "logo.png").write_bytes(b"\x89PNG")
    (org / "empty").touch()
    (org / "empty").rename(org / "renamed")
    (org / "renamed").unlink()
    (org / "personalities" / "bot.yaml").write_text("tone: calm\n")
    (org / "personalities" / "bot.yaml").replace(org / "personalities" / "assistant.yaml")

    assert (org / "settings.json").exists()
    assert json.loads((org / "settings.json").read_text()) == {"theme": "dark"}
    assert (org / "logo.png").stat().st_size == 4
    assert sorted(org.iterdir()) == [org / "logo.png", org / "personalities", org / "settings.json"]
    assert sorted(org.glob("*.json")) == [org / "settings.json"]
    assert sorted(tree.real.rglob("*.yaml")) == [
        tree.real / "organizations/acme/config.yaml",
        org / "personalities/assistant.yaml",
    ]
    assert (org / "personalities").is_dir()
    assert (tree.real / "organizations" / "acme" / "config.yaml").resolve() == (
        tree.real.resolve() / "organizations/acme/config.yaml"
    )
    (org / "personalities" / "assistant.yaml").unlink()
    (org / "personalities").rmdir()
    assert (tree.sandbox / "organizations/globex/settings.json").exists()


def test_glob_and_iglob(tree: Tree, redirect: FileRedirect) -> None:
    (tree.real / "organizations" / "globex").mkdir()
    (tree.real / "organizations" / "globex" / "tenant.db").write_bytes(b"db")
    pattern = str(tree.real / "organizations" / "*" / "tenant.db")
    assert sorted(glob.glob(pattern)) == [
        str(tree.real / "organizations/acme/tenant.db"),
        str(tree.real / "organizations/globex/tenant.db"),
    ]
    assert len(list(glob.iglob(str(tree.real / "**" / "*.db"), recursive=True))) == 3


def test_walk_and_fwalk(tree: Tree, redirect: FileRedirect) -> None:
    (tree.real / "organizations" / "globex").mkdir()
    walked = {
        os.path.relpath(top, tree.real): sorted(files) for top, _, files in os.walk(tree.real)
    }
    assert walked["organizations/globex"] == []
    assert walked["."] == ["invitations.json", "system.db"]
    fwalked = {
        os.path.relpath(top, tree.real): sorted(files) for top, _, files, _ in os.fwalk(tree.real)
    }
    assert fwalked == walked


def test_scandir_and_listdir_keep_the_real_spelling(tree: Tree, redirect: FileRedirect) -> None:
    with os.scandir(tree.real) as entries:
        found = {entry.name: entry for entry in entries}
    assert found["system.db"].path == str(tree.real / "system.db")
    assert os.fspath(found["organizations"]) == str(tree.real / "organizations")
    assert found["organizations"].is_dir()
    assert found["system.db"].stat().st_size > 0
    assert sorted(os.listdir(os.fsencode(tree.real))) == [
        b"defaults",
        b"invitations.json",
        b"organizations",
        b"system.db",
    ]


def test_relative_paths_from_the_cwd(
    tree: Tree, redirect: FileRedirect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.app)
    org = os.path.join("data", "organizations", "globex")
    os.makedirs(org)
    with open(os.path.join(org, "config.yaml"), "w") as stream:
        stream.write("name: Globex\n")
    assert os.path.exists("data/organizations/globex/config.yaml")
    assert tree.sandbox_text("organizations/globex/config.yaml") == "name: Globex\n"
    assert sorted(glob.glob("data/organizations/*")) == [
        "data/organizations/acme",
        "data/organizations/globex",
    ]
    shutil.rmtree("data/organizations/acme")
    assert not (tree.sandbox / "organizations" / "acme").exists()


def test_chdir_into_the_data_dir_moves_into_the_sandbox(
    tree: Tree, redirect: FileRedirect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree.app)
    os.chdir("data/organizations")
    assert os.getcwd() == str(tree.sandbox / "organizations")
    Path("acme", "notes.txt").write_text("relative to the sandbox")
    assert tree.sandbox_text("organizations/acme/notes.txt") == "relative to the sandbox"
    Path("../../report.txt").write_text("climbed out as from the real data dir")
    assert (tree.app / "report.txt").exists()
    assert sorted(os.listdir("../..")) == ["data", "report.txt"]
    os.chdir("../..")
    assert os.getcwd() == str(tree.app)


def test_links_symlinks_and_readlink(tree: Tree, redirect: FileRedirect) -> None:
    real = tree.real
    os.link(real / "system.db", real / "system-hard.db")
    os.symlink(real / "organizations" / "acme", real / "current")
    os.symlink("../outside/target.txt", real / "escaping")
    (real / "current" / "new.txt").write_text("via the link")

    assert os.readlink(real / "current") == str(real / "organizations" / "acme")
    assert tree.sandbox_text("organizations/acme/new.txt") == "via the link"
    with redirect.passthrough():
        stored = os.readlink(tree.sandbox / "current")
        escaping = os.readlink(tree.sandbox / "escaping")
    assert stored == str(tree.sandbox / "organizations" / "acme")
    # a relative link out of the data dir points where it would have from the real one
    assert escaping == str(tree.app / "outside" / "target.txt")
    assert (tree.sandbox / "system-hard.db").stat().st_nlink == 2


def test_mapping(tree: Tree, redirect: FileRedirect, monkeypatch: pytest.MonkeyPatch) -> None:
    assert redirect.to_sandbox(tree.real) == str(tree.sandbox)
    assert redirect.to_sandbox(os.fsencode(tree.real / "a")) == str(tree.sandbox / "a")
    assert redirect.to_sandbox(str(tree.real) + "/x/../y") == str(tree.sandbox / "y")
    assert redirect.to_sandbox(tree.outside / "x") is None
    assert redirect.to_sandbox(tree.sandbox / "x") is None
    assert redirect.to_sandbox(str(tree.real) + "-backup/x") is None
    monkeypatch.chdir(tree.app)
    assert redirect.to_sandbox("data/system.db") == str(tree.sandbox / "system.db")
    redirect.target = None
    assert redirect.to_sandbox(tree.real / "system.db") is None
    with pytest.raises(ValueError, match="must not be inside"):
        redirect.target = tree.real / "sandbox"


def test_on_touch_clones_lazily_with_real_file_access(tree: Tree, redirect: FileRedirect) -> None:
    lazy = tree.sandbox.parent / "lazy"
    lazy.mkdir()
    touched: list[PurePosixPath] = []

    def clone(relative: PurePosixPath) -> None:
        touched.append(relative)
        source, copy = tree.real / relative, lazy / relative
        if source.is_file() and not copy.exists():  # these reach the real files
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)

    redirect.target = lazy
    redirect.on_touch = clone
    assert (tree.real / "organizations" / "acme" / "config.yaml").read_text().startswith("name")
    assert touched == [PurePosixPath("organizations/acme/config.yaml")]
    assert (lazy / "organizations/acme/config.yaml").exists()


def test_threads(tree: Tree, redirect: FileRedirect) -> None:
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            folder = tree.real / "organizations" / f"org{number}"
            folder.mkdir()
            for index in range(20):
                (folder / f"{index}.json").write_text(json.dumps({"n": index}))
                os.stat(tree.outside)
            shutil.rmtree(folder / ".." / "acme", ignore_errors=True)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(os.listdir(tree.sandbox / "organizations")) == 8
    assert all(len(os.listdir(tree.sandbox / "organizations" / f"org{n}")) == 20 for n in range(8))


def test_support_sets_stay_consistent(redirect: FileRedirect) -> None:
    assert {os.open, os.stat, os.unlink, os.rmdir} <= os.supports_dir_fd
    assert os.scandir in os.supports_fd
    assert os.stat in os.supports_follow_symlinks


def test_inactive_passes_through(tree: Tree, redirect: FileRedirect) -> None:
    redirect.target = None
    assert os.listdir(tree.real) == os.listdir(tree.real)
    (tree.outside / "plain.txt").write_text("x")
    assert (tree.outside / "plain.txt").read_text() == "x"
    assert snapshot(tree.real) == tree.before


def test_uninstall_restores_the_originals_exactly(tree: Tree) -> None:
    names = [n for n in ("stat", "lstat", "open", "remove", "rename", "scandir") if hasattr(os, n)]
    before = {name: getattr(os, name) for name in names}
    opens = (builtins.open, io.open, _io.open)
    supports = (set(os.supports_dir_fd), set(os.supports_fd), set(os.supports_follow_symlinks))
    globbers = {k: dict(vars(v)) for k, v in vars(glob).items() if isinstance(v, type)}
    module = sys.modules[__name__]

    files = FileRedirect(tree.real)
    try:
        files.install()
        files.install()
        assert os.stat is not before["stat"]
        assert module.early_remove is os.remove
        assert builtins.open is io.open is _io.open is not opens[0]
    finally:
        files.uninstall()
    files.uninstall()

    assert all(getattr(os, name) is before[name] for name in names)
    assert (builtins.open, io.open, _io.open) == opens
    assert all(a is b for a, b in zip((builtins.open, io.open, _io.open), opens, strict=True))
    assert module.early_remove is before["remove"]
    assert (set(os.supports_dir_fd), set(os.supports_fd), set(os.supports_follow_symlinks)) == (
        supports
    )
    after = {k: dict(vars(v)) for k, v in vars(glob).items() if isinstance(v, type)}
    assert after.keys() == globbers.keys()
    for name, members in globbers.items():
        assert all(after[name][k] is v for k, v in members.items() if k != "__dict__")
