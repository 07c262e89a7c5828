"""The errors of the OpenRouter mock and the virtual clock, so users can catch them by type."""

from tenantfixtures.errors import TenantFixturesError


class ScriptError(TenantFixturesError, ValueError):
    """A malformed script or step (unknown step, negative latency, bad status): fix the test."""


class OpenRouterMockError(TenantFixturesError, AssertionError):
    """A request the mock could not answer: no route matched, or the script ran out."""


class VirtualClockError(TenantFixturesError, RuntimeError):
    """The virtual clock cannot run here (a synchronous test, or a loop it cannot drive)."""
