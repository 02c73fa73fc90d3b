"""The README and docs/ as a stranger reads them: every make target listed with its port, every link live,
and CI running the very test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [README, ROOT / "PRIVACY.md", ROOT / "ARCHITECTURE.md", ROOT / "BENCHMARKS.md", *DOC_PAGES]
# Text that only made sense inside the workshop that wrote the bot, never in a user's clone.
WORKSHOP_WORDS = ("the spec's", "this machine", "../shared/", "seen on this")


def quick_start() -> str:
    text = README.read_text()
    return text[text.index("## Quick start") : text.index("\n## ", text.index("## Quick start") + 1)]


def phony_targets() -> list[str]:
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:"))
    return line.split(":", 1)[1].split()


@pytest.mark.parametrize("target", phony_targets())
def test_the_quick_start_lists_every_make_target_with_its_port(target: str) -> None:
    rows = [row for row in quick_start().splitlines() if row.startswith("|") and f"`make {target}`" in row]
    assert rows, f"README.md's quick start has no table row for `make {target}`"
    assert rows[0].rstrip(" |").rsplit("|", 1)[1].strip(), f"README.md: `make {target}` names no port"


def test_the_two_set_up_commands_are_in_the_quick_start_and_ci_runs_the_test_one() -> None:
    block = re.search(r"```sh\n(.*?)```", quick_start(), re.S)
    assert block, "README.md's quick start has no sh block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert "make run" in commands and "make test" in commands
    ci = [
        line
        for line in (ROOT / ".ci/run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert ci == ["make test"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def links(page: Path) -> list[str]:
    return [
        link for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()) if not link.startswith(("http", "mailto:"))
    ]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: page.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: {link} points to no file"
        if anchor and target.suffix == ".md":
            headings = {slug(h) for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)}
            assert anchor in headings, f"{page.name}: {link} points to no heading"


@pytest.mark.parametrize("page", [README, *DOC_PAGES], ids=lambda page: page.name)
def test_no_page_names_the_workshop(page: Path) -> None:
    text = page.read_text().lower()
    assert not [word for word in WORKSHOP_WORDS if word in text], page.name


# Where the environment is read: the settings, and the Datasette plugins (a separate process).
READERS = [*sorted((ROOT / "bot/config").glob("*.py")), *sorted((ROOT / "plugins").glob("*.py"))]
# Set by the bot for its children, never by the operator: the SFTP password reaches Litestream's config this way.
SET_BY_THE_BOT = {"BOT_REPLICA_SFTP_PASSWORD"}
VARIABLE = re.compile(r"\"((?:BOT|DISCORD|ANTHROPIC|DATASETTE|LITESTREAM|CONVERSATION|AWS)_[A-Z0-9_]+|PORT)\"")


def test_the_configuration_page_names_every_variable_the_code_reads() -> None:
    read = {name for path in READERS for name in VARIABLE.findall(path.read_text())} - SET_BY_THE_BOT
    assert len(read) > 40, sorted(read)  # the settings' 31 and the replica's, login's and plugins' own
    page = (ROOT / "docs/configuration.md").read_text()
    assert sorted(name for name in read if f"`{name}" not in page) == []


def test_the_password_hash_has_its_own_heading() -> None:
    assert re.search(r"^#+ DATASETTE_PASSWORD_HASH$", (ROOT / "docs/configuration.md").read_text(), re.M)


def test_the_licence_is_named_in_pyproject() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the conversation-bot authors")
    assert 'license-files = ["LICENSE"]' in (ROOT / "pyproject.toml").read_text()
