"""Running from a subdirectory: the app's cwd-relative data dir and the configured one disagree.

The mini app opens ``data/system.db`` relative to the working directory, so ``cd tests &&
pytest`` makes it create ``tests/data/system.db``, a real file in the checkout that no
sandbox covers. The run says so, naming both paths.
"""

import pytest

from tests.db.conftest import ISOLATION_MODES

TESTS = """
import miniapp


def test_signs_up(tenancy):
    miniapp.sign_up("acme")
"""


@pytest.mark.parametrize("mode", ISOLATION_MODES)
def test_a_database_created_outside_the_data_dir_is_reported(
    mini_project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    tests = mini_project.mkpydir("tests")
    (tests / "test_signup.py").write_text(TESTS)
    mini_project.makeini("[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n")
    monkeypatch.chdir(tests)
    result = mini_project.runpytest_subprocess(f"--tf-isolation={mode}", "-p", "no:randomly")
    stray, configured = tests / "data" / "system.db", mini_project.path / "data"
    result.stdout.fnmatch_lines(
        [
            f"*StrayDatabaseWarning: the app created the database {stray}: it treats"
            f" {tests / 'data'} as its data dir, but the configured data dir is {configured}."
            f" pytest runs in {tests}*run pytest from {mini_project.path}*"
        ]
    )
    assert "miniapp.py:" in result.stdout.str()  # points at the app's line


def test_the_configured_data_dir_is_not_reported(mini_project: pytest.Pytester) -> None:
    mini_project.makepyfile(test_signup=TESTS)
    mini_project.makeini("[pytest]\npythonpath = .\ntenantfixtures_data_dir = data\n")
    result = mini_project.runpytest_subprocess(
        "-p", "no:randomly", "-W", "error::tenantfixtures.sandbox.stray.StrayDatabaseWarning"
    )
    result.assert_outcomes(passed=1)
    assert "StrayDatabaseWarning" not in result.stdout.str()
