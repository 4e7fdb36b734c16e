"""The tree's structure: one registry type everywhere, package dependencies that point one way and cover every
import (so each package installs on its own), and documentation references that exist in the repository."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest

from ffr_data.registry import Registry, RegistryError

ROOT = Path(__file__).resolve().parents[1]
REGISTRIES = ["ffr_data.prompting:TEMPLATES", "ffr_data.patch:TAXONOMIES", "ffr_teacher.registry:BACKENDS", "ffr_train.algorithms:ADVANTAGES",
              "ffr_train.algorithms:AGGREGATIONS", "ffr_train.rewards:REWARDS", "ffr_train.rewards:ACCURACY_BY_TYPE",
              "ffr_eval.benchmarks.base:BENCHMARKS", "ffr_eval.aggregate:SPECIAL", "ffr_eval.extraction:LETTER_RULES",
              "ffr_eval.item_scoring:SCORERS", "ffr_eval.official.base:SCORERS"]
# Dependencies point one way: ffr-data <- ffr-teacher <- ffr-train, and ffr-data <- ffr-eval.
ARROWS = {"ffr-data": set(), "ffr-teacher": {"ffr-data"}, "ffr-train": {"ffr-data", "ffr-teacher"},
          "ffr-eval": {"ffr-data"}}


@pytest.mark.parametrize("where", REGISTRIES)
def test_every_registry_is_the_shared_one_and_refuses_a_second_registration(where):
    module, name = where.split(":")
    registry = getattr(importlib.import_module(module), name)
    assert isinstance(registry, Registry) and len(registry) > 0
    first = next(iter(registry))
    with pytest.raises(RegistryError, match="registered twice"):
        registry.add(first, registry[first])
    with pytest.raises(RegistryError, match=r"unknown .*'no-such-name' \(known: "):
        registry.get("no-such-name")


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[ ;<>=!~\[(]", requirement.strip(), maxsplit=1)[0]).lower()


def _closure(dist: str, seen: set[str]) -> set[str]:
    try:
        reqs = requires(dist) or []
    except PackageNotFoundError:  # a marker-only dependency for another platform
        return seen
    for req in reqs:
        name = _name(req)
        if "extra ==" not in req and name not in seen:
            seen.add(name)
            _closure(name, seen)
    return seen


def _imports(src: Path) -> set[str]:
    found = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names)


def test_packages_depend_one_way_and_declare_every_import():
    modules_to_dists = packages_distributions()
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        name, declared = project["name"], {_name(r) for r in project["dependencies"]}
        assert {d for d in declared if d.startswith("ffr-")} == ARROWS[name], name
        # An optional extra (ffr-data[torchcodec]) counts: its import is guarded and its absence is a config error.
        extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
        covered = _closure(name, {name}) | extras
        for module in sorted(_imports(pyproject.parent / "src")):
            dists = {_name(module)} if module.startswith("ffr_") else {_name(d) for d in modules_to_dists[module]}
            assert dists & covered, f"{name} imports {module} ({dists}) without depending on it"


def test_every_documentation_reference_exists_in_the_repository():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    cited = re.compile(r"(?<![\w/])((?:docs/[\w./-]+\.md)|DESIGN\.md)")
    missing = []
    for rel in files:
        path = ROOT / rel
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".json"} or rel.startswith("docs/results"):
            continue
        for ref in cited.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (ROOT / ref).is_file():
                missing.append(f"{rel}: {ref}")
        if path.suffix == ".md":
            for link in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
                if not (path.parent / link).exists():
                    missing.append(f"{rel}: link {link}")
    assert not missing, missing
