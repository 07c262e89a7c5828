"""tenantfixtures: pytest fixtures for multi-tenant SQLAlchemy backends."""

# Loading the package with ``pytest -p tenantfixtures`` registers the real plugin module.
pytest_plugins = ["tenantfixtures.plugin"]
