"""OpenRouter fault injection on respx, with virtual time for asyncio."""
