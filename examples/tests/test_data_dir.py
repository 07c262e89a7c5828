"""The app's real data dir: read for shipped files, never written."""

from pathlib import Path

from app import database

REAL_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def test_shipped_defaults_are_read_from_the_real_data_dir():
    defaults = database.load_defaults()
    assert defaults["models"][0] == "openai/gpt-4o"
    assert defaults["plans"]["free"]["max_users"] == 3


def test_the_app_data_dir_is_the_real_one_but_databases_live_in_the_sandbox(
    client, sign_up, tenancy
):
    sign_up("acme")
    assert database.DATA_DIR.resolve() == REAL_DATA_DIR
    assert not (REAL_DATA_DIR / "system.db").exists()
    assert not (REAL_DATA_DIR / "organizations").exists()
    assert tenancy.system_path().exists()
    assert (tenancy.data_dir / "organizations" / "acme" / "tenant.db").exists()


def test_directories_the_app_creates_land_in_the_sandbox(tenancy):
    database.get_tenant_engine("newco")
    assert (tenancy.data_dir / "organizations" / "newco").is_dir()
    assert not (REAL_DATA_DIR / "organizations" / "newco").exists()


def test_the_import_time_system_engine_is_served_from_the_sandbox(tenancy):
    from sqlalchemy import text

    with database.system_engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()
    assert "organizations" in tables
    assert tenancy.touched.system >= 1
