"""Every test owns the whole data dir: files beside the databases too, in both isolation modes.

Each case runs the app-like code in an inner pytest session, once per mode, and compares a
hash of the real data dir's tree (names, modes, sizes, contents) before and after.
"""

import sqlite3
import textwrap
from pathlib import Path

import pytest

from tests.db.conftest import snapshot

FILE_CASES = """
import json
import os
import shutil
from pathlib import Path

import miniapp
import pytest

REAL_INVITATIONS = [{"email": "real@acme.test"}]


def test_rmtree_of_the_organizations_folder(tenancy):
    shutil.rmtree("data/organizations")
    assert not os.path.exists("data/organizations/acme/config.yaml")


def test_remove_truncate_and_rename():
    os.remove("data/organizations/acme/config.yaml")
    os.truncate("data/invitations.json", 0)
    os.rename("data/defaults/readme.txt", "data/defaults/moved.txt")
    assert os.listdir("data/defaults") == ["moved.txt"]
    assert Path("data/invitations.json").read_text() == ""


def test_write_through_a_symlink_alias_of_the_data_dir():
    Path("alias/invitations.json").write_text("[]")
    assert json.loads(Path("data/invitations.json").read_text()) == []


def test_json_and_yaml_files_written_and_read_back():
    path = Path("data/invitations.json")
    invitations = json.loads(path.read_text())
    assert invitations == REAL_INVITATIONS
    path.write_text(json.dumps([*invitations, {"email": "new@acme.test"}]))
    assert len(json.loads(path.read_text())) == 2
    config = Path("data/organizations/acme/config.yaml")
    config.write_text(config.read_text() + "theme: dark\\n")
    assert "theme: dark" in config.read_text()


def test_a_directory_the_app_creates_exists_for_the_app():
    os.makedirs("data/organizations/globex/personality", exist_ok=True)
    assert os.path.exists("data/organizations/globex/personality")
    assert Path("data", "organizations", "globex").is_dir()
    assert sorted(os.listdir("data/organizations")) == ["acme", "globex"]


def test_offboarding_removes_the_org_and_its_database(tenancy):
    miniapp.sign_up("acme")
    shutil.rmtree(os.path.join("data", "organizations", "acme"))
    assert not Path("data/organizations/acme").exists()


def test_each_test_sees_the_shipped_files_untouched(tenancy):
    assert Path("data/defaults/readme.txt").read_text() == "shipped with the app\\n"
    assert json.loads(Path("data/invitations.json").read_text()) == REAL_INVITATIONS
    assert "org: acme" in Path("data/organizations/acme/config.yaml").read_text()
    assert not Path("data/organizations/globex").exists()


def test_the_app_gets_template_databases_never_the_real_rows(tenancy):
    assert miniapp.notes("acme") == []
    miniapp.add_note("acme", "written in a test")
    assert miniapp.notes("acme") == ["written in a test"]


@pytest.mark.parametrize("worker_token", range(4))
def test_workers_writing_the_same_relative_file(worker_token):
    path = Path("data/invitations.json")
    path.write_text(json.dumps([{"token": worker_token}]))
    assert json.loads(path.read_text()) == [{"token": worker_token}]
"""


def _seed_real_data_dir(project: pytest.Pytester) -> Path:
    """A data dir as a developer's checkout has it: real databases with rows, org config,
    invitations, shipped defaults, and a symlink alias of the data dir."""
    data = project.path / "data"
    org = data / "organizations" / "acme"
    org.mkdir(parents=True)
    (org / "config.yaml").write_text("org: acme\nplan: pro\n")
    (data / "invitations.json").write_text('[{"email": "real@acme.test"}]')
    tenant = sqlite3.connect(org / "tenant.db")
    tenant.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR, stars INTEGER)")
    tenant.execute("INSERT INTO notes (body) VALUES ('a real customer note')")
    tenant.commit()
    tenant.close()
    system = sqlite3.connect(data / "system.db")
    system.execute("CREATE TABLE orgs (id VARCHAR PRIMARY KEY)")
    system.execute("INSERT INTO orgs VALUES ('acme')")
    system.commit()
    system.close()
    (project.path / "alias").symlink_to(data)
    return data


@pytest.fixture
def seeded(mini_project: pytest.Pytester) -> pytest.Pytester:
    _seed_real_data_dir(mini_project)
    mini_project.makepyfile(test_app_files=FILE_CASES)
    return mini_project


@pytest.mark.parametrize(
    "extra",
    [("-p", "no:randomly"), ("-n", "2"), ("-p", "randomly")],
    ids=["serial", "xdist", "random"],
)
def test_app_file_operations_never_change_the_real_data_dir(seeded, isolation, extra):
    before = snapshot(seeded.path / "data")
    result = seeded.runpytest_subprocess("-p", "tenantfixtures", isolation, *extra)
    result.assert_outcomes(passed=12)
    assert snapshot(seeded.path / "data") == before


def test_the_header_names_the_mode(seeded, isolation):
    result = seeded.runpytest_subprocess("-p", "tenantfixtures", isolation, "-k", "shipped")
    mode = isolation.split("=")[1]
    result.stdout.fnmatch_lines([f"tenantfixtures isolation: {mode} (*)"])


BEYOND_PYTHON = """
import os
import sqlite3
import subprocess
import sys


def test_attach_and_delete():
    connection = sqlite3.connect(":memory:")
    connection.execute("ATTACH DATABASE 'data/system.db' AS real")
    connection.execute("DELETE FROM real.orgs")
    connection.commit()


def test_vacuum_into_the_data_dir():
    connection = sqlite3.connect("data/system.db")
    connection.execute("VACUUM INTO 'data/copy.db'")


def test_subprocess_writes_the_system_database():
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " c.execute('DELETE FROM orgs'); c.commit()"
    )
    subprocess.run([sys.executable, "-c", code, "data/system.db"], check=True)
"""


def test_beyond_python_namespace_mode_serves_it_all(seeded):
    """C code, SQLite's own file opens and subprocesses (one that builds data-dir paths itself
    included) all land in the test's layer."""
    seeded.makepyfile(test_beyond=BEYOND_PYTHON, offboard=OFFBOARD_CLI, test_offboard=OFFBOARD_TEST)
    before = snapshot(seeded.path / "data")
    result = seeded.runpytest_subprocess(
        "-p", "tenantfixtures", "--tf-isolation=namespace", "test_beyond.py", "test_offboard.py"
    )
    result.assert_outcomes(passed=5)
    assert snapshot(seeded.path / "data") == before


def test_beyond_python_redirect_mode_refuses_with_the_fix(seeded):
    """What Python's file APIs cannot serve is refused before it happens, naming the fix."""
    seeded.makepyfile(test_beyond=BEYOND_PYTHON)
    before = snapshot(seeded.path / "data")
    result = seeded.runpytest_subprocess(
        "-p", "tenantfixtures", "--tf-isolation=redirect", "test_beyond.py"
    )
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*ATTACH*data*system.db*namespace*"])
    result.stdout.fnmatch_lines(["*VACUUM INTO*copy.db*namespace*"])
    result.stdout.fnmatch_lines(["*subprocess*data*namespace*"])
    assert snapshot(seeded.path / "data") == before


def test_namespace_mode_keeps_permission_checks(seeded, isolation):
    """Capabilities are not effective while a test runs: a read-only file stays read-only
    (as root, root's own rules apply, as they always did)."""
    seeded.makepyfile(
        test_perms="""
        import os
        from pathlib import Path
        import pytest

        def test_read_only_file():
            path = Path("data/defaults/locked.txt")
            path.write_text("x")
            path.chmod(0o444)
            if os.geteuid() == 0:
                path.write_text("root writes anyway")
            else:
                with pytest.raises(PermissionError):
                    path.write_text("refused")
            assert os.getuid() == os.geteuid()
        """
    )
    result = seeded.runpytest_subprocess("-p", "tenantfixtures", isolation, "test_perms.py")
    result.assert_outcomes(passed=1)


def test_import_time_writes_land_in_the_session_layer(pytester):
    """With the ini naming the data dir, the app's import-time create_all never reaches the
    real system database, in either mode."""
    from tests.db.conftest import MINI_APP

    pytester.makepyfile(miniapp=textwrap.dedent(MINI_APP))
    pytester.makeini(
        """
        [pytest]
        pythonpath = .
        tenantfixtures_system_metadata = miniapp:SystemBase.metadata
        tenantfixtures_tenant_metadata = miniapp:TenantBase.metadata
        tenantfixtures_data_dir = data
        """
    )
    data = pytester.path / "data"
    data.mkdir()
    (data / "readme.txt").write_text("shipped")
    pytester.makepyfile(
        test_one="""
        import miniapp

        def test_signs_up(tenancy):
            miniapp.sign_up("acme")
        """
    )
    for mode in ("namespace", "redirect"):
        before = snapshot(data)
        result = pytester.runpytest_subprocess(f"--tf-isolation={mode}")
        result.assert_outcomes(passed=1)
        assert snapshot(data) == before == {"readme.txt": before["readme.txt"]}


OFFBOARD_CLI = """
import shutil
from pathlib import Path

if __name__ == "__main__":  # builds the data dir's path itself: no path in its arguments
    shutil.rmtree(Path(__file__).parent / "data" / "organizations" / "acme")
"""

OFFBOARD_TEST = """
import subprocess
import sys


def test_offboarding_cli():
    subprocess.run([sys.executable, "-m", "offboard"], check=True)


def test_after_it():
    pass
"""


def test_redirect_mode_fails_the_test_whose_subprocess_changed_the_real_data_dir(seeded):
    """Redirect mode serves Python's file APIs, not a child that builds data-dir paths itself:
    the change cannot be prevented there, so it fails that test's teardown, naming the paths
    and the fix, instead of passing unnoticed; the next test is not blamed for it."""
    seeded.makepyfile(offboard=OFFBOARD_CLI, test_offboard=OFFBOARD_TEST)
    result = seeded.runpytest_subprocess(
        "-p", "tenantfixtures", "--tf-isolation=redirect", "-p", "no:randomly", "test_offboard.py"
    )
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_offboarding_cli*",
            "the real data dir */data changed during this test: deleted organizations/acme,"
            " organizations/acme/config.yaml, organizations/acme/tenant.db. *"
            "run in namespace mode (--tf-isolation=namespace, Linux)*",
        ]
    )
    assert not (seeded.path / "data" / "organizations" / "acme").exists()


LINKS_TEST = """
from pathlib import Path


def test_links_read_and_written_through():
    assert Path("data/shipped_link/notice.txt").read_text() == "shipped beside the data dir"
    assert Path("data/current/config.yaml").read_text().startswith("org: acme")
    Path("data/current/config.yaml").write_text("org: acme\\nplan: free\\n")
    assert Path("data/organizations/acme/config.yaml").read_text().endswith("plan: free\\n")
"""


def test_links_inside_the_data_dir_work_in_both_modes(seeded, isolation):
    """A relative link leaving the data dir (to shipped files beside it) and an absolute link
    back into it (a "current" organisation) read and write as in the real tree; the write
    lands in the test's copy."""
    (seeded.path / "shipped").mkdir()
    (seeded.path / "shipped" / "notice.txt").write_text("shipped beside the data dir")
    data = seeded.path / "data"
    (data / "shipped_link").symlink_to("../shipped")
    (data / "current").symlink_to(data / "organizations" / "acme")
    seeded.makepyfile(test_links=LINKS_TEST)
    before = snapshot(data)
    result = seeded.runpytest_subprocess("-p", "tenantfixtures", isolation, "test_links.py")
    result.assert_outcomes(passed=1)
    assert snapshot(data) == before
