"""pytest wiring for the OpenRouter mock and the virtual clock (fixtures live here)."""
