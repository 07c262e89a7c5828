"""OpenRouter fault injection on respx, with virtual time for asyncio.

The names are imported on first use (PEP 562), so that loading the pytest plugin
(``tenantfixtures.llm.plugin``) does not import httpx and respx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantfixtures.lazy import lazy_exports

if TYPE_CHECKING:
    from tenantfixtures.llm.clock import VirtualClock
    from tenantfixtures.llm.errors import OpenRouterMockError, ScriptError, VirtualClockError
    from tenantfixtures.llm.openrouter import Call, OpenRouterMock, Script
    from tenantfixtures.llm.steps import Step

__all__ = [
    "Call",
    "OpenRouterMock",
    "OpenRouterMockError",
    "Script",
    "ScriptError",
    "Step",
    "VirtualClock",
    "VirtualClockError",
]

_MODULES = {
    "Call": "tenantfixtures.llm.openrouter",
    "OpenRouterMock": "tenantfixtures.llm.openrouter",
    "OpenRouterMockError": "tenantfixtures.llm.errors",
    "Script": "tenantfixtures.llm.openrouter",
    "ScriptError": "tenantfixtures.llm.errors",
    "Step": "tenantfixtures.llm.steps",
    "VirtualClock": "tenantfixtures.llm.clock",
    "VirtualClockError": "tenantfixtures.llm.errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _MODULES, __all__)
