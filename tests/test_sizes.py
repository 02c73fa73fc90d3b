"""Sizes: no module over about 250 lines and no class over about 120 in bot/, bench/ and plugins/ (issue 21).

A reader holds one module or one class in mind at a time; past these sizes a file has grown a second job.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 250
MAX_CLASS_LINES = 120
CHECKED = ("bot", "bench", "plugins")


def sources() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (ROOT / folder).rglob("*.py"))


def test_the_walk_finds_the_sources() -> None:
    # Guards against a vacuous pass: an emptied or moved folder would otherwise check nothing.
    assert {p.relative_to(ROOT).parts[0] for p in sources()} == set(CHECKED)


def test_no_module_is_over_the_limit() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines"


def test_no_class_is_over_the_limit() -> None:
    long = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (n := node.end_lineno - node.lineno + 1) > MAX_CLASS_LINES:
                long[f"{path.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}, f"classes over {MAX_CLASS_LINES} lines"
