"""tenantfixtures.redact: every shape a secret takes in our messages, and what must survive."""

from __future__ import annotations

import json
import time

import pytest

from tenantfixtures.redact import MARK, is_secret_key, redact, redact_json

KEY = "sk-or-v1-" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f'{{"Authorization": "Bearer {KEY}", "model": "x"}}',
            '{"Authorization": "Bearer …REDACTED", "model": "x"}',
        ),
        (
            "{'proxy-authorization': 'Basic dXNlcjpwYXNz', 'host': 'h'}",
            "{'proxy-authorization': 'Basic …REDACTED', 'host': 'h'}",
        ),
        (
            "[(b'authorization', b'Bearer abcdefghijkl'), (b'host', b'h')]",
            "[(b'authorization', b'Bearer …REDACTED'), (b'host', b'h')]",
        ),
        ("Authorization: Bearer abc.def-ghi\nHost: h", "Authorization: Bearer …REDACTED\nHost: h"),
        ("GET /v1?api_key=s3cr3t&model=x", "GET /v1?api_key=…REDACTED&model=x"),
        ('{"apiKey": "s3cr3t", "token": "t0k"}', '{"apiKey": "…REDACTED", "token": "…REDACTED"}'),
        ("x-api-key: s3cr3t", "x-api-key: …REDACTED"),
        (
            "OPENROUTER_API_KEY=s3cr3t access_token=t0k",
            "OPENROUTER_API_KEY=…REDACTED access_token=…REDACTED",
        ),
        (f"key {KEY} in prose", "key sk-…REDACTED in prose"),
        ("sk-proj-abcdefgh1234 and sk-ant-api03-abcdefgh", "sk-…REDACTED and sk-…REDACTED"),
        (f"curl -H 'Authorization: Bearer {KEY}'", "curl -H 'Authorization: Bearer …REDACTED'"),
        ("postgresql://app:hunter2@db:5432/x", "postgresql://app:…REDACTED@db:5432/x"),
        ("Cookie: session=abc123; theme=dark", "Cookie: …REDACTED; theme=dark"),
        ("short key sk-abcd", "short key sk-…REDACTED"),
    ],
)
def test_secrets_are_removed_with_a_visible_mark(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"usage": {"prompt_tokens": 12, "completion_tokens": 3}, "max_tokens": 100}',
        "task-1234567890 disk-abcdefghij token_count=5",
        "tenantfixtures network guard: t.py::test tried to reach api.example.com:443",
        "Bearer short",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [f"Authorization: Basic {KEY}", f'{{"api_key": "{KEY}"}}', f"token={KEY}&x={KEY}", KEY],
)
def test_redaction_is_idempotent_and_leaves_no_key(text: str) -> None:
    once = redact(text)
    assert redact(once) == once
    assert "0123456789abcdef" not in once
    assert MARK in once


SECRET = "0123456789abcdef"
SAMPLES = [
    f"Authorization: Bearer {KEY}",
    f'{{"x-api-key": "{KEY}"}}',
    f"apiKey: {KEY}",
    f"Bearer {KEY}",
    f"failed with {KEY}",
    f"sk-{SECRET[:4]} in a message",
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_loses_its_secret(sample: str) -> None:
    assert SECRET[:4] not in redact(sample)


def test_flaky_reports_and_the_openrouter_mock_share_this_redaction() -> None:
    """One redaction for everything that prints or stores text, so none lags behind."""
    from tenantfixtures.flaky import html, junit, record, report
    from tenantfixtures.llm import redact as llm_redact

    assert llm_redact.text is redact
    assert all(module.redact is redact for module in (html, junit, record, report))


# Issue 10: keys in node ids, glued or truncated keys, OAuth fields, values never keys.

HEX = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"tests/test_x.py::test_x[sk-or-v1-{HEX}]", "tests/test_x.py::test_x[sk-…REDACTED]"),
        (f"test_x[model-sk-or-v1-{HEX}]", "test_x[model-sk-…REDACTED]"),
        (f"test_x[xsk-or-v1-{HEX}]", "test_x[xsk-…REDACTED]"),
        (f"abcsk-or-v1-{HEX} failed", "abcsk-…REDACTED failed"),
        ("keysk-proj-Ab3dEf9hIjKlMn0pQrStUv", "keysk-…REDACTED"),
        ("got:sk-ant-api03-AbCdEfGh12345678", "got:sk-…REDACTED"),
        ("thesk-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", "thesk-…REDACTED"),
        (f"assert '...-v1-{HEX}' == ''", "assert '...-v1-…REDACTED' == ''"),
        (f"assert '…-v1-{HEX}'", "assert '…-v1-…REDACTED'"),
        (f"'...r-v1-{HEX}'", "'...r-v1-…REDACTED'"),
        (f"'...{HEX[5:]}'", "'...…REDACTED'"),
    ],
)
def test_keys_in_node_ids_glued_or_truncated_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "task-list disk-usage ask-me risk-assessment-report-for-q3 whisk-it",
        "tests/test_tasks.py::test_task-1234567890[desk-project-plan]",
        "version 1.2...3 and main...feature",
    ],
)
def test_words_ending_in_sk_survive(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"client_secret": "abc"}', '{"client_secret": "…REDACTED"}'),
        (
            '{"auth": {"access_token": "ya29.x", "refresh_token": "1//y"}, "n": 1}',
            '{"auth": {"access_token": "…REDACTED", "refresh_token": "…REDACTED"}, "n": 1}',
        ),
        ("client_secret=abc&access_token=xyz", "client_secret=…REDACTED&access_token=…REDACTED"),
        ('{"access_token": "ab\\"cd\\"ef"}', '{"access_token": "…REDACTED"}'),
        ("DB_PASSWORD=hunter2 secret_key=k", "DB_PASSWORD=…REDACTED secret_key=…REDACTED"),
    ],
)
def test_oauth_fields_are_removed(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/test_x.py::test_get_settings_no_api_key",
        "tests/test_x.py::test_jwt_token",
        "test_jwt_token",
        "tests/test_x.py::TestApiKey::test_rotation",
        "tests/test_secret.py::test_client_secret[password]",
    ],
)
@pytest.mark.parametrize("indent", [None, 2])
def test_json_keys_survive_test_names_that_look_like_secrets(
    nodeid: str, indent: int | None
) -> None:
    report = {"nodeid": nodeid, "classification": "flaky", "culprits": [nodeid, "t::y"]}
    text = json.dumps({"tests": [report]}, indent=indent)
    assert json.loads(redact(text)) == {"tests": [report]}
    assert redact(nodeid) == nodeid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql+psycopg://tf:s3cr3t@host/db", "postgresql+psycopg://tf:…REDACTED@host/db"),
        ("postgresql+psycopg://tf:s3%40cr3t@host/db", "postgresql+psycopg://tf:…REDACTED@host/db"),
        ("postgresql://tf:s3@cr3t@host:5432/db", "postgresql://tf:…REDACTED@host:5432/db"),
        ("redis://:hunter2@cache:6379/0", "redis://:…REDACTED@cache:6379/0"),
        (
            "see http://host:8080/x and user@example.com",
            "see http://host:8080/x and user@example.com",
        ),
    ],
)
def test_passwords_in_urls(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_json_replaces_secret_values_and_keeps_every_key() -> None:
    body = {
        "model": "openai/gpt-4o",
        "client_secret": "abc",
        "Authorization": "Bearer xyz",
        "auth": {"access_token": {"value": "t", "expires": 3}, "token": None, "id_token": 42},
        "messages": [{"role": "user", "content": f"my key is sk-or-v1-{HEX}"}],
        "max_tokens": 100,
        "usage": {"prompt_tokens": 3},
        "nodeid": "tests/test_x.py::test_get_settings_no_api_key",
        "classification": "flaky",
        "pair": ("x-api-key", f"sk-proj-{HEX}"),
        "raw": b"api_key=abc",
    }
    before = json.dumps(body, default=str)
    assert redact_json(body) == {
        "model": "openai/gpt-4o",
        "client_secret": MARK,
        "Authorization": f"Bearer {MARK}",
        "auth": {"access_token": MARK, "token": None, "id_token": MARK},
        "messages": [{"role": "user", "content": f"my key is sk-{MARK}"}],
        "max_tokens": 100,
        "usage": {"prompt_tokens": 3},
        "nodeid": "tests/test_x.py::test_get_settings_no_api_key",
        "classification": "flaky",
        "pair": ("x-api-key", f"sk-{MARK}"),
        "raw": f"api_key={MARK}".encode(),
    }
    assert json.dumps(body, default=str) == before  # not modified in place
    assert redact_json(redact_json(body)) == redact_json(body)


def test_redact_json_keeps_keys_that_only_differed_by_a_secret() -> None:
    results = {
        f"t.py::test[sk-or-v1-{HEX}]": "passed",
        f"t.py::test[sk-or-v1-{HEX[::-1]}]": "failed",
    }
    assert redact_json(results) == {
        f"t.py::test[sk-{MARK}]": "passed",
        f"t.py::test[sk-{MARK}] #2": "failed",
    }


def test_secret_key_names() -> None:
    for name in ("client_secret", "access_token", "X-Api-Key", "OPENROUTER_API_KEY", "password"):
        assert is_secret_key(name), name
    for name in ("max_tokens", "token_count", "classification", "nodeid", "secretary"):
        assert not is_secret_key(name), name


@pytest.mark.parametrize(
    "text",
    ["a-" * 100_000, "sk-" * 60_000, "a://b:" * 30_000, "a." * 100_000, "..." + "a" * 200_000],
    ids=["hyphens", "sk-runs", "urls", "dots", "ellipsis"],
)
def test_hostile_input_does_not_hang_the_redaction(text: str) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 20  # quadratic backtracking took minutes
