"""pytest wiring for the guards (options, markers, hooks)."""
