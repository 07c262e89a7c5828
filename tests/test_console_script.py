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


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and its subcommands' parsers, nested ones (quarantine check) included."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += every_parser(sub)
    return found


def test_every_command_states_everything():
    parsers = every_parser(build_parser())
    assert len(parsers) > 9
    assert [problem for parser in parsers for problem in help_problems(parser)] == []
    assert [parser.prog for parser in parsers if not parser.description] == []


@pytest.mark.parametrize(
    "command",
    [parser.prog.split()[1:] for parser in every_parser(build_parser())],
    ids=lambda command: " ".join(command) or "top-level",
)
def test_every_help_as_printed_by_the_console_script(pytester: pytest.Pytester, command):
    result = pytester.run(SCRIPT, *command, "--help")
    assert result.ret == 0
    text = result.stdout.str()
    assert not REST_MARKUP.search(text)
    usage = " ".join(text.split("\n\n")[0].split())
    assert "--rounds N " not in usage or "[--rounds N]" in usage  # an option, not required
    for choices in re.findall(r"--format \{([^}]*)\}", usage):
        names = choices.split(",")
        assert names == ["md", *sorted(names[1:])]


def test_quarantine_action_help_lists_the_actions(pytester: pytest.Pytester):
    result = pytester.run(SCRIPT, "quarantine", "--help")
    result.stdout.fnmatch_lines(["  ACTION * one of: check", "    check * exit 1 if an entry*"])


def test_doctor_help_is_plain_text(pytester: pytest.Pytester):
    result = pytester.run(SCRIPT, "doctor", "--help")
    assert result.ret == 0
    text = result.stdout.str()
    assert "``" not in text
    result.stdout.fnmatch_lines(["usage: tenantfixtures doctor [-h] [-- PYTEST_ARG ...]"])
    assert "(default:" in text
