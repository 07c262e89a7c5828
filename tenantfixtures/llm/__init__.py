"""OpenRouter fault injection on respx, with virtual time for asyncio."""

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
