"""Secret redaction shared by every part of tenantfixtures that prints or stores text.

Guard messages, recorded requests, failure messages and flaky reports can all quote headers,
payloads or URLs; an OpenRouter key copied into a CI log or a history database is a leaked key.
``redact`` errs on the side of removing too much: a redacted word costs nothing, a leaked key
costs a rotation. Each removal leaves ``…REDACTED`` so a reader can see that something was there.

Values are redacted, never keys: a field name is only a *key* when it is a whole quoted string
(``"api_key": …``), a bare word (``api_key=…``) or the first item of a pair
(``(b'authorization', b'…')``), so a test named ``test_get_settings_no_api_key`` inside a JSON
report never takes the next field (``"classification"``) for its value. Structured data should
not go through text patterns at all: ``redact_json`` walks dicts and lists.
"""

from __future__ import annotations

import re

MARK = "…REDACTED"

__all__ = ["MARK", "is_secret_key", "redact", "redact_json"]

# Keys whose value is a secret: header names, JSON fields, query parameters, key=value pairs.
# ``[\w-]*token\b`` catches access_token or x-auth-token but not max_tokens or token_count.
_KEY = (
    r"(?:proxy-)?authorization|(?:set-)?cookie"
    r"|[\w-]{0,64}api[_-]?key|[\w-]{0,64}token|[\w-]{0,64}secret(?:[_-]?key)?|[\w-]{0,64}private[_-]?key"
    r"|[\w-]{0,64}pass(?:word|wd|phrase)"
)
_SECRET_KEY = re.compile(rf"(?i)(?:{_KEY})")
# Authorization values may start with a scheme word worth keeping ("Bearer …REDACTED");
# atomic, so "Basic …REDACTED" is never re-read as a value named "Basic".
_SCHEME = r"(?>(?:(?:bearer|basic|token|digest|negotiate)\s+)?)"
# A quoted value, with JSON/Python escapes (``"ab\"cd"`` is one value).
_QUOTED_VALUE = r"(?:\\.|(?!(?P=q2)).)+"
# Characters of an OpenAI/OpenRouter/Anthropic key.
_KEYCHARS = r"[A-Za-z0-9_-]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Quoted values after a key that is a whole quoted string or a bare word:
    # "api_key": "x y", 'Authorization': 'Bearer x', api_key='x', token: "x".
    (
        re.compile(
            rf"""(?ix)
            (?P<keep>
              (?: (?P<oq>['"])(?:{_KEY})(?P=oq)
                | (?<![\w'"-])(?:{_KEY})(?![\w'"-])
              )
              \s*(?<!:)[:=](?!:)\s*b?(?P<q2>['"])
              {_SCHEME}
            )
            {_QUOTED_VALUE}
            """
        ),
        rf"\g<keep>{MARK}",
    ),
    # Pairs: (b'authorization', b'Bearer x'), ("x-api-key", "k") -- raw ASGI/httpx headers.
    (
        re.compile(
            rf"""(?ix)
            (?P<keep>
              \(\s*b?(?P<oq>['"])(?:{_KEY})(?P=oq)\s*,\s*b?(?P<q2>['"])
              {_SCHEME}
            )
            {_QUOTED_VALUE}
            """
        ),
        rf"\g<keep>{MARK}",
    ),
    # Unquoted values: header lines, query strings, key=value, YAML-ish key: value.
    # Never across ``::`` (``tests/x.py::TestApiKey::test_y`` is a node id, not a pair).
    (
        re.compile(
            rf"""(?ix)
            (?P<keep>
              \b(?:{_KEY})\b
              \s*(?<!:)[:=](?!:)\s*
              {_SCHEME}
            )
            (?!['"\s]|{MARK})[^\s'",;&}})\]]+
            """
        ),
        rf"\g<keep>{MARK}",
    ),
    # Bearer tokens wherever they appear, e.g. in a curl command or an exception text.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1>{MARK}"),
    # A key whose start was cut off: pytest's ``...-v1-<hex>``, or ``…r-v1-<hex>``.
    (re.compile(r"(?i)-v1-[0-9a-f]{12,}"), f"-v1-{MARK}"),
    # ...and the tail of a key after an ellipsis: a long hex or key-character run.
    (
        re.compile(
            rf"(?P<lead>\.\.\.|…)(?={_KEYCHARS}*?(?:[0-9a-fA-F]{{12}}|[A-Za-z0-9]{{24}})){_KEYCHARS}+"
        ),
        rf"\g<lead>{MARK}",
    ),
    # Passwords in URLs: scheme://user:password@host (the last @ of the authority counts,
    # like urllib's parser; the user may be empty, as in redis://:password@host).
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://[^\s:/@?#]{0,256}:)[^\s/?#]{1,512}@"),
        rf"\g<1>{MARK}@",
    ),
)


def redact(text: str) -> str:
    """Return ``text`` without Authorization values, api_key/token fields or ``sk-`` keys.

    Idempotent: redacting twice changes nothing, so layers may each redact without care.
    """
    for index, (pattern, replacement) in enumerate(_PATTERNS):
        if index == _KEYS_AT:
            text = _redact_keys(text)
        text = pattern.sub(replacement, text)
    return text


# Where the ``sk-`` keys are removed: after Bearer tokens, before the truncated-key patterns.
_KEYS_AT = 4
_SK = re.compile("sk-")
_RUN = re.compile(f"{_KEYCHARS}+")
_ALNUM = re.compile("[A-Za-z0-9]+")
_OPENROUTER = re.compile(rf"or-v\d+-{_KEYCHARS}{{8}}")


def _redact_keys(text: str) -> str:
    """OpenAI / OpenRouter / Anthropic-style keys: ``sk-…``, ``sk-or-v1-<hex>``, ``sk-proj-…``.

    Standing alone (not inside a word), any ``sk-`` token of 4+ key characters goes. Glued to a
    preceding word (``xsk-or-v1-…``, ``abcsk-…``), only what a real key looks like: an
    OpenRouter prefix, or a run of 16+ letters and digits with a digit in it, so "task-list",
    "disk-usage" or "risk-assessment-report" survive. One linear scan: no regex backtracking
    over a long run of key characters.
    """
    out: list[str] = []
    done = 0
    for found in _SK.finditer(text):
        start = found.start()
        if start < done:
            continue  # inside a key already removed
        run = _RUN.match(text, found.end())
        if run is None:
            continue
        body = run.group()
        glued = start > 0 and text[start - 1].isascii() and text[start - 1].isalnum()
        if glued:
            secret = _OPENROUTER.match(body) is not None or any(
                len(part) >= 16 and any(c.isdigit() for c in part) for part in _ALNUM.findall(body)
            )
        else:
            secret = len(body) >= 4
        if secret:
            out.append(text[done:start] + "sk-" + MARK)
            done = run.end()
    out.append(text[done:])
    return "".join(out)


def is_secret_key(name: str) -> bool:
    """Whether a field, header or parameter named ``name`` holds a secret (``client_secret``)."""
    return _SECRET_KEY.fullmatch(name.strip()) is not None


def redact_json(value: object) -> object:
    """A copy of a JSON-like value (dicts, lists, tuples, strings) without secrets.

    The whole value of a secret-named key is replaced (``{"client_secret": "…REDACTED"}``;
    an Authorization value keeps its scheme: ``"Bearer …REDACTED"``), whatever its type, except
    ``None`` and booleans, which hold nothing. Every other string, keys included, goes through
    :func:`redact`; key names themselves are never replaced. Two keys that only differed by a
    secret (``test[sk-a…]``, ``test[sk-b…]``) stay two entries (``… #2``). The input is not
    modified. Idempotent.
    """
    if isinstance(value, dict):
        result: dict[object, object] = {}
        for key, item in value.items():
            name = redact(key) if isinstance(key, str) else key
            if isinstance(key, str) and key != name:
                base, number = name, 2
                while name in result:
                    name, number = f"{base} #{number}", number + 1
            if isinstance(key, str) and is_secret_key(key):
                result[name] = _secret_value(key, item)
            else:
                result[name] = redact_json(item)
        return result
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_json(item) for item in value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        try:
            return redact(value.decode()).encode()
        except UnicodeDecodeError:  # not text: latin-1 keeps every byte, ASCII keys included
            text = value.decode("latin-1")
            redacted = redact(text)
            return value if redacted == text else redacted.encode()
    return value


def _secret_value(key: str, value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and key.lower().endswith("authorization"):
        scheme, space, credentials = value.partition(" ")
        if space and credentials and scheme.isalpha():
            return f"{scheme} {MARK}"
    return MARK
