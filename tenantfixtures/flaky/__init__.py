"""Flaky-test detector: attempt history, nightly reruns, classification, reports, quarantine."""
