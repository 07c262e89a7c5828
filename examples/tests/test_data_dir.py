"""The app's data dir during a test is the test's own: shipped files read, writes kept private.

Whether the run isolates with an overlay (namespace mode) or a copy (redirect mode), the app's
paths are served from the test's sandbox; scripts/test.sh checks afterwards that the real
``examples/data`` is byte for byte what the repository ships.
"""

from pathlib import Path

from sqlalchemy import text

from app import database

REAL_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def test_shipped_defaults_are_read_from_the_data_dir():
    defaults = database.load_defaults()
    assert defaults["models"][0] == "openai/gpt-4o"
    assert defaults["plans"]["free"]["max_users"] == 3


def test_the_app_and_the_test_see_the_same_databases(client, sign_up, tenancy):
    sign_up("acme")
    assert database.DATA_DIR.resolve() == REAL_DATA_DIR
    assert tenancy.system_path().exists()
    assert (tenancy.data_dir / "organizations" / "acme" / "tenant.db").exists()
    assert tenancy.tenants == ("acme",)


def test_directories_the_app_creates_exist_for_the_app(tenancy):
    database.get_tenant_engine("newco")
    assert (tenancy.data_dir / "organizations" / "newco").is_dir()
    assert Path("data/organizations/newco").is_dir()


def test_the_import_time_system_engine_is_served_from_the_sandbox(tenancy):
    with database.system_engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()
    assert "organizations" in tables
    assert tenancy.touched.system >= 1
