"""The pytest plugin: options, hooks and fixtures, wired to the modules that do the work."""

pytest_plugins = ["tenantfixtures.llm.plugin", "tenantfixtures.flaky.plugin"]
