"""Secret redaction shared by every part of tenantfixtures that prints or stores text.

Guard messages, recorded requests, failure messages and flaky reports can all quote headers,
payloads or URLs; an OpenRouter key copied into a CI log or a history database is a leaked key.
``redact`` errs on the side of removing too much: a redacted word costs nothing, a leaked key
costs a rotation. Each removal leaves ``…REDACTED`` so a reader can see that something was there.
"""

from __future__ import annotations

import re

MARK = "…REDACTED"

# Keys whose value is a secret: header names, JSON fields, query parameters, key=value pairs.
# ``[\w-]*token\b`` catches access_token or x-auth-token but not max_tokens or token_count.
_KEY = (
    r"(?:proxy-)?authorization|(?:set-)?cookie"
    r"|[\w-]*api[_-]?key|[\w-]*token|[\w-]*secret|password|passwd"
)
# Authorization values may start with a scheme word worth keeping ("Bearer …REDACTED");
# atomic, so "Basic …REDACTED" is never re-read as a value named "Basic".
_SCHEME = r"(?>(?:(?:bearer|basic|token|digest|negotiate)\s+)?)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Quoted values: "api_key": "x y", 'Authorization': 'Bearer x', (b'authorization', b'x').
    (
        re.compile(
            rf"""(?ix)
            (?P<key>\b(?:{_KEY})\b)
            (?P<sep>(?P<q1>['"]?)\s*(?:[:=]|(?<=['"]),)\s*b?(?P<q2>['"]))
            (?P<scheme>{_SCHEME})
            (?:(?!(?P=q2)).)+
            """
        ),
        rf"\g<key>\g<sep>\g<scheme>{MARK}",
    ),
    # Unquoted values: header lines, query strings, key=value, YAML-ish key: value.
    (
        re.compile(
            rf"""(?ix)
            (?P<key>\b(?:{_KEY})\b)
            (?P<sep>\s*[:=]\s*)
            (?P<scheme>{_SCHEME})
            (?!['"\s]|{MARK})[^\s'",;&}})\]]+
            """
        ),
        rf"\g<key>\g<sep>\g<scheme>{MARK}",
    ),
    # Bearer tokens wherever they appear, e.g. in a curl command or an exception text.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{MARK}"),
    # OpenAI / OpenRouter / Anthropic-style keys: sk-..., sk-or-v1-<hex>, sk-proj-...
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{4,}"), f"sk-{MARK}"),
    # Passwords in URLs: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s/@]+@"), rf"\g<1>{MARK}@"),
)


def redact(text: str) -> str:
    """Return ``text`` without Authorization values, api_key/token fields or ``sk-`` keys.

    Idempotent: redacting twice changes nothing, so layers may each redact without care.
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
