"""Refuse, in redirect mode, subprocesses that would reach the app's real data dir.

A child process does its file I/O outside Python's reach, so the redirect cannot serve it from
the sandbox. The process-start audit events (PEP 578) are the one hook that sees every way a
Python process starts another (``subprocess``, ``os.system``, ``os.posix_spawn``, ``os.exec*``,
``pty.spawn``) before it happens. Hooks cannot be removed, so one hook, added on first use,
dispatches to the active veto and returns at once for every other event.

What counts as reaching the data dir: a cwd inside it; an argument (or an explicit ``env``
value) that contains an absolute path under it; an argument, or a word of a ``sh -c``/
``os.system`` command, that resolves under it from the child's cwd, symlinks included.
Not seen: paths the child computes or reads from a file or the inherited environment. On POSIX
``os.spawn*`` runs ``exec`` in a forked child: the exec is still refused (the child exits 127),
but ``refuse`` is called in the child, so the test does not fail by itself.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantfixtures.errors import SandboxEscapeError

_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "pty.spawn"}
)
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
_FIX = (
    "A subprocess cannot be served from the sandbox in redirect mode: give it paths under the "
    "sandbox (tenancy.data_dir), or run in namespace mode: --tf-isolation=namespace"
)


@dataclass(frozen=True)
class _Rules:
    roots: tuple[str, ...]  # the data dir as given and resolved, normalised
    absolute: re.Pattern[str]  # an absolute path under a root, anywhere in a string
    refuse: Callable[[str], None]

    def within(self, path: str) -> bool:
        return any(path == root or path.startswith(root + "/") for root in self.roots)

    def resolves_within(self, path: str) -> bool:
        normalised = posixpath.normpath(path)
        return self.within(normalised) or self.within(os.path.realpath(normalised))


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | os.PathLike):
        return os.fsdecode(value)
    return None


def _words(command: str) -> list[str]:
    """The words of a shell command, with redirections (``>file``) split off."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # unbalanced quotes: not a shell command after all
        return command.split()


class SubprocessVeto:
    """While active, refuses process starts that reach ``real_root``."""

    def __init__(self) -> None:
        self._rules: _Rules | None = None

    @property
    def active(self) -> bool:
        return self._rules is not None

    def activate(self, real_root: Path, refuse: Callable[[str], None]) -> None:
        given = posixpath.normpath(os.path.abspath(real_root))
        roots = tuple(dict.fromkeys((given, os.path.realpath(given))))
        alternatives = "|".join(re.escape(root) for root in roots)
        absolute = re.compile(rf"(?<![\w.~-])(?:{alternatives})(?=$|/|[^\w.-])[^\s'\";|&<>]*")
        self._rules = _Rules(roots, absolute, refuse)

    def deactivate(self) -> None:
        self._rules = None

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        """Raise ``SandboxEscapeError`` (after calling ``refuse``) if this start is refused."""
        rules = self._rules
        if rules is None:
            return
        reason = self._reason(rules, event, args)
        if reason is None:
            return
        message = f"{_describe(event, args)} refused: {reason}. {_FIX}."
        rules.refuse(message)
        raise SandboxEscapeError(message)

    def _reason(self, rules: _Rules, event: str, args: tuple[Any, ...]) -> str | None:
        values, commands, cwd, env = _unpack(event, args)
        where = os.getcwd()
        if cwd is not None:
            where = posixpath.join(where, cwd)
        root = rules.roots[0]
        if rules.resolves_within(where):
            return f"its working directory {where} is inside the app's real data dir {root}"
        for word, how in _candidates(values, commands):
            found = rules.absolute.search(word)
            if found is not None:
                return f"{how} {word!r} names {found.group()}, under the app's real data dir"
            for part in (word, word.partition("=")[2]):
                if (
                    part
                    and not part.startswith("-")
                    and rules.resolves_within(posixpath.join(where, part))
                ):
                    return (
                        f"{how} {word!r} resolves from the working directory {where} to "
                        f"{posixpath.normpath(posixpath.join(where, part))}, under the app's real "
                        f"data dir {root}"
                    )
        for name, value in (env or {}).items():
            text = _text(value)
            found = rules.absolute.search(text) if text else None
            if found is not None:
                return (
                    f"the environment variable {os.fsdecode(name)}={text!r} names "
                    f"{found.group()}, under the app's real data dir"
                )
        return None


def _unpack(event: str, args: tuple[Any, ...]) -> tuple[list[object], list[str], Any, Any]:
    """(executable and argv, shell commands, cwd, env) of one process-start event."""
    if event == "os.system":
        return [], [t for t in (_text(args[0]),) if t], None, None
    if event == "pty.spawn":
        argv = args[0]
        return ([argv] if isinstance(argv, str | bytes) else list(argv)), [], None, None
    if event == "subprocess.Popen":
        executable, argv, cwd, env = args
    elif event == "os.spawn":
        _, executable, argv, env = args
        cwd = None
    else:  # os.exec, os.posix_spawn
        executable, argv, env = args
        cwd = None
    argv = [argv] if isinstance(argv, str | bytes | os.PathLike) else list(argv or ())
    commands: list[str] = []
    if len(argv) >= 3 and argv[1] == "-c" and posixpath.basename(_text(argv[0]) or "") in _SHELLS:
        command = _text(argv[2])
        if command:
            commands.append(command)
    cwd_text = _text(cwd) if cwd is not None else None
    return [executable, *argv], commands, cwd_text, env


def _candidates(values: Iterable[object], commands: Iterable[str]) -> Iterator[tuple[str, str]]:
    for value in values:
        text = _text(value)
        if text:
            yield text, "the argument"
    for command in commands:
        for word in _words(command):
            yield word, "the shell word"


def _describe(event: str, args: tuple[Any, ...]) -> str:
    shown = repr(
        args[0] if event in ("os.system", "pty.spawn") else args[2 if event == "os.spawn" else 1]
    )
    if len(shown) > 200:
        shown = shown[:197] + "..."
    return f"{event}({shown})"


_VETO = SubprocessVeto()
_hook_lock = threading.Lock()
_hook_added = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _EVENTS and _VETO._rules is not None:
        _VETO.check(event, args)


def subprocess_veto() -> SubprocessVeto:
    """The process-wide veto; its audit hook is added on the first call."""
    global _hook_added
    with _hook_lock:
        if not _hook_added:
            sys.addaudithook(_audit)
            _hook_added = True
    return _VETO
