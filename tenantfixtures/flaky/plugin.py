"""pytest wiring for the flaky-test recorder and quarantine (options and hooks live here)."""
