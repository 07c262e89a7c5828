"""Run metadata (commit, branch, CI job, shard, interpreter) from the CI environment or git."""

import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

_COMMIT_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1", "GIT_COMMIT")
_BRANCH_VARS = (
    "GITHUB_HEAD_REF",
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "GIT_BRANCH",
)
_JOB_VARS = ("CI_JOB_ID", "BUILDKITE_JOB_ID", "CIRCLE_BUILD_NUM")


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[name] for name in names if env.get(name)), None)


def _git(rootdir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=rootdir, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _ci_job(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_RUN_ID"):
        return f"{env.get('GITHUB_JOB', 'job')}#{env['GITHUB_RUN_ID']}"
    return _first(env, _JOB_VARS)


def _shard(env: Mapping[str, str]) -> str | None:
    if env.get("TENANTFIXTURES_SHARD"):
        return env["TENANTFIXTURES_SHARD"]
    for index, total in (
        ("CI_NODE_INDEX", "CI_NODE_TOTAL"),
        ("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT"),
        ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL"),
    ):
        if env.get(index):
            return f"{env[index]}/{env.get(total, '?')}"
    return None


class RunMeta(TypedDict):
    """The :class:`~models.Run` fields that identify code and machine."""

    commit: str | None
    branch: str | None
    ci_job: str | None
    shard: str | None
    python: str | None
    platform: str | None


def run_metadata(rootdir: Path, env: Mapping[str, str] | None = None) -> RunMeta:
    """What identifies the code and the machine of a run, so flips are compared like for like."""
    env = os.environ if env is None else env
    commit = _first(env, _COMMIT_VARS) or _git(rootdir, "rev-parse", "HEAD")
    branch = _first(env, _BRANCH_VARS) or _git(rootdir, "rev-parse", "--abbrev-ref", "HEAD")
    return RunMeta(
        commit=commit,
        branch=branch,
        ci_job=_ci_job(env),
        shard=_shard(env),
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
    )
