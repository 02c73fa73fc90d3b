"""The plugins reach each other through one mechanism: the project on sys.path, and `plugins.X` imported as
usual, so each helper module exists once a process, the very module a test or another plugin imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.support.web import PLUGINS

# (plugin file, its attribute, the module it must be, that module's attribute or "" for the module itself)
SIBLINGS = [
    ("login", "guard", "plugins.login_guard", ""),
    ("search", "form_module", "plugins.search_form", ""),
    ("transcript", "kept", "plugins.attachment_bytes", ""),
    ("exchange_cards", "transcript", "plugins.transcript", ""),
    ("attachment_bytes", "accounts_of", "plugins.login_guard", "accounts_of"),
]

# Run as `datasette serve` runs the plugins: each file exec'd by path (Datasette's own module_from_path),
# from a folder that is not the project, with no PYTHONPATH. Prints, for each sibling, whether the plugin
# holds the module `import plugins.X` gives, and every module object made from each helper file.
PROBE = """
import importlib, json, sys
from datasette.utils import module_from_path
plugins_dir, siblings = sys.argv[1], json.loads(sys.argv[2])
loaded = {plugin: module_from_path(f"{plugins_dir}/{plugin}.py", name=f"{plugin}.py") for plugin, *_ in siblings}
project = plugins_dir.rsplit("/", 1)[0]
if project not in sys.path:  # as in the tests, where `plugins` imports without the plugins' help
    sys.path.append(project)
same = {}
for plugin, attribute, module, inner in siblings:
    target = importlib.import_module(module)
    same[plugin] = getattr(loaded[plugin], attribute) is (getattr(target, inner) if inner else target)
copies = {}
for name, mod in list(sys.modules.items()):
    path = getattr(mod, "__file__", None) or ""
    if path.startswith(plugins_dir):
        copies.setdefault(path.rsplit("/", 1)[1], []).append(name)
print(json.dumps({"same": same, "copies": copies}))
"""


def probe(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(PLUGINS), json.dumps(SIBLINGS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_each_plugin_holds_the_module_import_plugins_gives(tmp_path):
    found = probe(tmp_path)
    assert found["same"] == {plugin: True for plugin, *_ in SIBLINGS}


def test_each_helper_file_is_one_module_a_process(tmp_path):
    copies = probe(tmp_path)["copies"]
    for helper in ("login_guard.py", "search_form.py", "attachment_bytes.py", "transcript.py"):
        assert copies[helper] == [f"plugins.{helper.removesuffix('.py')}"], helper


def test_a_copy_of_the_plugins_imports_its_own_files(tmp_path):
    """bench/login.py serves an older plugins/ from `git archive`, with this project on sys.path (its cwd)."""
    copy = tmp_path / "elsewhere" / "plugins"
    shutil.copytree(PLUGINS, copy)
    done = subprocess.run(
        [sys.executable, "-c", COPY_PROBE, str(copy)],
        cwd=PLUGINS.parent,  # as `python -m datasette serve` from the project: it is on sys.path
        env={**os.environ, "PYTHONPATH": str(PLUGINS.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "login_guard": str(copy / "login_guard.py"),
        "search_form": str(copy / "search_form.py"),
        "attachment_bytes": str(copy / "attachment_bytes.py"),
        "transcript": str(copy / "transcript.py"),
    }


COPY_PROBE = """
import json, sys
from datasette.utils import module_from_path
copy = sys.argv[1]
login = module_from_path(f"{copy}/login.py", name="login.py")
search = module_from_path(f"{copy}/search.py", name="search.py")
transcript = module_from_path(f"{copy}/transcript.py", name="transcript.py")
cards = module_from_path(f"{copy}/exchange_cards.py", name="exchange_cards.py")
print(json.dumps({
    "login_guard": login.guard.__file__,
    "search_form": search.form_module.__file__,
    "attachment_bytes": transcript.kept.__file__,
    "transcript": cards.transcript.__file__,
}))
"""
