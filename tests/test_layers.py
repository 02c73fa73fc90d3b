"""Imports follow the layers: every arrow points down, the store stands alone, bench uses only tests/support.

Read from the source with ast, so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A package may import its own modules and those of lower layers only.
LAYERS = {
    "bot.store": 0,
    "bot.config": 0,
    "bot.exports": 1,
    "bot.core": 2,
    "bot.replica": 3,
    "bot.demo": 3,
    "bot.discord_front": 4,
    "bot.console": 4,
    "bot.cli": 5,
    "bot.__main__": 6,
}
# What each bottom package may import from bot/ besides itself.
ALONE = {"bot.store": set(), "bot.config": set()}
DISCORD_FREE = ("bot.store", "bot.config", "bot.exports", "bot.core", "bot.replica")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Absolute names of every module imported by path (relative imports resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def layer_of(module: str) -> str | None:
    return next((layer for layer in LAYERS if module == layer or module.startswith(layer + ".")), None)


def bot_modules() -> list[Path]:
    return sorted((ROOT / "bot").rglob("*.py"))


def test_every_module_of_bot_is_in_a_layer() -> None:
    loose = [
        module_name(p) for p in bot_modules() if layer_of(module_name(p)) is None and module_name(p) not in {"bot"}
    ]
    assert loose == []


@pytest.mark.parametrize("path", bot_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    own = layer_of(module_name(path))
    if own is None:
        return
    upward = sorted(
        name for name in imported(path) if (other := layer_of(name)) and other != own and LAYERS[other] >= LAYERS[own]
    )
    assert upward == [], f"{module_name(path)} imports upward or sideways"


@pytest.mark.parametrize(
    "path",
    [p for p in bot_modules() if module_name(p).startswith(DISCORD_FREE)],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_discord_below_the_front_end(path: Path) -> None:
    assert not {name for name in imported(path) if name == "discord" or name.startswith("discord.")}


def test_a_layer_violation_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a store module importing the service is reported."""
    bad = ROOT / "bot" / "store" / "_layer_probe.py"
    bad.write_text("from bot.core import service\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError):
            test_imports_point_down(bad)
    finally:
        bad.unlink()


def reaches_past_support(path: Path) -> list[str]:
    """What `path` imports from tests/ other than tests.support: a test module or conftest."""
    return sorted(
        name
        for name in imported(path)
        if name.startswith("tests.") and not (name == "tests.support" or name.startswith("tests.support."))
    )


@pytest.mark.parametrize("path", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_bench_imports_only_the_support_of_tests(path: Path) -> None:
    assert reaches_past_support(path) == []


@pytest.mark.parametrize("path", sorted((ROOT / "tests").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_test_module_imports_another_or_conftest(path: Path) -> None:
    assert reaches_past_support(path) == []


def test_reaching_into_a_test_module_is_caught() -> None:
    """The check itself can fail: a bench module importing from a test module or conftest is reported."""
    probe = ROOT / "bench" / "_reach_probe.py"
    probe.write_text("from tests.test_settings import PROJECT\nfrom tests import conftest\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError):
            test_bench_imports_only_the_support_of_tests(probe)
        assert reaches_past_support(probe) == ["tests.conftest", "tests.test_settings", "tests.test_settings.PROJECT"]
    finally:
        probe.unlink()
