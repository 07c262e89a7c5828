"""A council of models: all answer in parallel, then each answering model votes for the best."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from app.openrouter import OpenRouterError, query_model

RANKING_INSTRUCTION = "Reply with the number of the best answer only."


@dataclass
class CouncilResult:
    answers: dict[str, str]
    failures: dict[str, str]
    votes: list[tuple[str, str]]  # (voter_model, chosen_model)
    winner: str | None


async def _ask(model: str, question: str) -> tuple[str, str | None, str | None]:
    """(model, answer, failure): one model's failure must not sink the council."""
    try:
        result = await query_model(model, [{"role": "user", "content": question}])
    except OpenRouterError as exc:
        return model, None, str(exc)
    return model, result["content"], None


def ranking_prompt(question: str, answers: Sequence[str]) -> str:
    """Answers are numbered, not attributed, so voters judge content rather than brand."""
    numbered = "\n\n".join(f"Answer {i}:\n{text}" for i, text in enumerate(answers, start=1))
    return f"Question: {question}\n\n{numbered}\n\n{RANKING_INSTRUCTION}"


async def _vote(voter: str, prompt: str, candidates: Sequence[str]) -> tuple[str, str] | None:
    """The voter's pick, or None when it failed or answered with no valid number."""
    try:
        result = await query_model(voter, [{"role": "user", "content": prompt}])
    except OpenRouterError:
        return None
    match = re.search(r"\d+", result["content"])
    if match is None or not 1 <= int(match.group()) <= len(candidates):
        return None
    return voter, candidates[int(match.group()) - 1]


async def run_council(question: str, models: Sequence[str]) -> CouncilResult:
    """Ask, vote, tally; ties go to the model listed first."""
    unique = list(dict.fromkeys(models))
    asked = await asyncio.gather(*(_ask(model, question) for model in unique))
    answers = {model: answer for model, answer, _ in asked if answer is not None}
    failures = {model: failure for model, _, failure in asked if failure is not None}
    candidates = list(answers)
    prompt = ranking_prompt(question, [answers[model] for model in candidates])
    ballots = await asyncio.gather(*(_vote(voter, prompt, candidates) for voter in candidates))
    votes = [ballot for ballot in ballots if ballot is not None]
    tally = Counter(chosen for _, chosen in votes)
    ranked = sorted(candidates, key=lambda model: -tally[model])  # stable: ties keep list order
    winner = ranked[0] if tally else None
    return CouncilResult(answers=answers, failures=failures, votes=votes, winner=winner)
