"""The README is a map (at most 200 lines, starting with the two commands CI reads) and every path
the README and docs/ name in backticks exists in the checkout; every page of docs/ is linked from
the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

COMMANDS = [
    "bash workflow/setup-venv.sh && .venv/bin/snakemake --cores all",
    "bash workflow/setup-venv.sh && .venv/bin/python -m pytest -q",
]
# what .ci/run greps for (grep -m1 -E): the first match is the test command CI runs
CI_PATTERN = re.compile(r"^bash workflow/setup-venv\.sh && .*pytest")
PATH_PREFIXES = ("workflow/", "docs/", "tests/", "benchmarks/", "envs/", "config.yaml")
PLACEHOLDERS = ("<", "*", "{")
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def readme_lines() -> list[str]:
    return README.read_text(encoding="utf-8").splitlines()


def fenced_blocks(lines: list[str]) -> list[list[str]]:
    """The contents of the ``` fenced blocks, in order."""
    blocks, current = [], None
    for line in lines:
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def prose(text: str) -> str:
    """``text`` without its fenced blocks (commands there may name files the reader creates)."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.MULTILINE | re.DOTALL)


def named_paths(text: str) -> list[str]:
    """Inline-code spans that look like repository paths and hold no placeholder."""
    out = []
    for span in INLINE_CODE.findall(prose(text)):
        candidate = span.strip()
        if " " in candidate or not candidate.startswith(PATH_PREFIXES):
            continue
        if any(mark in candidate for mark in PLACEHOLDERS):
            continue
        out.append(candidate)
    return out


def test_readme_is_a_map_of_at_most_200_lines():
    assert len(readme_lines()) <= 200


def test_readme_starts_with_the_two_commands():
    lines = readme_lines()
    first_fence = next(i for i, line in enumerate(lines) if line.startswith("```"))
    assert all(line.startswith("#") or not line.strip() for line in lines[:first_fence]), (
        "nothing but the title may come before the two commands"
    )
    assert fenced_blocks(lines)[0] == COMMANDS


def test_exactly_one_readme_line_is_the_ci_test_command():
    matches = [line for line in readme_lines() if CI_PATTERN.search(line)]
    assert matches == [COMMANDS[1]]


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_named_in_the_docs_exist(page: Path):
    missing = sorted({p for p in named_paths(page.read_text(encoding="utf-8")) if not (ROOT / p.rstrip("/")).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_there_are_docs_and_every_page_is_linked_from_the_readme():
    assert DOCS, "docs/*.md is missing"
    text = README.read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", text))
    unlinked = [str(p.relative_to(ROOT)) for p in DOCS if str(p.relative_to(ROOT)) not in linked]
    assert not unlinked, f"docs pages not linked from README.md: {unlinked}"
