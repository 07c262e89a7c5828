"""Hooks through which the parts of tenantfixtures (and other plugins) talk to the sandbox.

Declared the way pytest-xdist declares its ``newhooks``: a part that owns a file the sandbox
must leave alone says so here, instead of the sandbox knowing about every such part.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookspec
def pytest_tenantfixtures_passthrough_paths(config: pytest.Config) -> list[Path]:
    """Files or directories this plugin writes while tests run (a flaky-history store, say):
    never sandboxed, never a sandbox escape. They must not lie inside the app's data dir.

    Called while conftest files load (``config.option`` may be incomplete: read
    ``config.known_args_namespace``).
    """
    raise NotImplementedError
