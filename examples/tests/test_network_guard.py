"""The network guard in the app's suite: mocked and in-process traffic passes, nothing else does.

Run with the default ``--tf-guard=fail``: any of these tests that reached openrouter.ai for real
would fail with "tried to reach the real network: openrouter.ai:443".
"""

import http.server
import threading
from collections.abc import Iterator

import httpx
import pytest

from app.openrouter import query_model


def test_testclient_never_leaves_the_process(client) -> None:
    response = client.post(
        "/orgs",
        json={
            "id": "initech",
            "name": "Initech",
            "owner_email": "o@initech.example",
            "owner_name": "Owner",
        },
    )
    assert response.status_code == 201, response.text


@pytest.mark.asyncio
async def test_openrouter_is_mocked_not_called(openrouter) -> None:
    openrouter.script(openrouter.reply("Mocked answer"))
    result = await query_model("openai/gpt-4o", [{"role": "user", "content": "hi"}])
    assert result["content"] == "Mocked answer"
    assert len(openrouter.calls) == 1


@pytest.fixture
def local_stub() -> Iterator[str]:
    """A stand-in upstream on loopback, which the guard always allows."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_loopback_services_are_allowed(local_stub: str) -> None:
    assert httpx.get(f"{local_stub}/health", timeout=2).status_code == 204
