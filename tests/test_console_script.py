"""The ``tenantfixtures`` console script as a user reads it: version, and help that needs no
other documentation (plain text, every positional explained, every default stated)."""

import argparse
import re
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tenantfixtures.cli import build_parser

SCRIPT = Path(sys.executable).with_name("tenantfixtures")
CHECKED = ["doctor"]  # the flaky detector's subcommands are checked by their owners' tests
REST_MARKUP = re.compile(r"``|:(?:func|class|meth|mod|ref|doc):`")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def help_problems(parser: argparse.ArgumentParser) -> list[str]:
    """What a reader of ``--help`` would miss: reST markup, silent positionals, unstated
    defaults."""
    problems = []
    text = parser.format_help()
    if REST_MARKUP.search(text):
        problems.append(f"{parser.prog}: reST markup in the help")
    for action in parser._actions:
        name = action.dest if not action.option_strings else action.option_strings[-1]
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if not action.help:
            problems.append(f"{parser.prog} {name}: no help")
        elif not action.required and action.nargs != 0 and "default" not in action.help:
            problems.append(f"{parser.prog} {name}: the default is not stated")
    return problems


def test_version_comes_from_the_installed_package(pytester: pytest.Pytester):
    result = pytester.run(SCRIPT, "--version")
    assert result.ret == 0
    assert result.outlines == [f"tenantfixtures {version('tenantfixtures')}"]


def test_top_level_and_doctor_help_state_everything():
    parser = build_parser()
    commands = subcommands(parser)
    assert help_problems(parser) == []
    for name in CHECKED:
        assert help_problems(commands[name]) == []


def test_doctor_help_is_plain_text(pytester: pytest.Pytester):
    result = pytester.run(SCRIPT, "doctor", "--help")
    assert result.ret == 0
    text = result.stdout.str()
    assert "``" not in text
    result.stdout.fnmatch_lines(["usage: tenantfixtures doctor [-h] [-- PYTEST_ARG ...]"])
    assert "(default:" in text
