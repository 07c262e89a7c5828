"""Per-test database sandboxes: templates, SQLite cloning, redirecting the app's connections."""
