"""Shared helpers for the plugin's own tests (inner pytest sessions run through pytester)."""
