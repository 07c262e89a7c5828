"""tenantfixtures.redact: every shape a secret takes in our messages, and what must survive."""

from __future__ import annotations

import pytest

from tenantfixtures.redact import MARK, redact

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
