"""The docs stay true to the code (issue 18): docs/options.md is what the parser says, the README stays a
front door, every relative link and every --flag the pages mention exists, and docs/architecture.md maps
every module of the package and says the import contracts of pyproject.toml."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# Flags of other programs the pages show in commands, by the program they belong to.
OTHER_PROGRAMS = {
    "--version": "python3",
    "--system": "useradd",
    "--no-create-home": "useradd",
    "--home-dir": "useradd",
    "--shell": "useradd",
    "--now": "systemctl",
    "--check": "ruff format",
    "--pid": "py-spy",
    "--no-deps": "pip",
}

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)


def prose(text: str) -> str:
    """The text outside code blocks and code spans, where links and headings live."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """GitHub's ids for the headings of a page: lower case, punctuation dropped, spaces as hyphens."""
    seen: dict[str, int] = {}
    for title in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        if seen[slug]:
            slug = f"{slug}-{seen[slug]}"
        seen.setdefault(slug, 0)
    return set(seen)


def load_options_doc():
    spec = importlib.util.spec_from_file_location("options_doc", ROOT / "scripts" / "options_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_options_page_is_what_the_parser_says():
    expected = load_options_doc().render()
    assert (DOCS / "options.md").read_text() == expected, "run python scripts/options_doc.py > docs/options.md"


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines: move the details into docs/ and link them"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_points_to_an_existing_file_and_heading(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def help_flags(parse, argv: list[str]) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parse(argv)
    return set(FLAG.findall(out.getvalue()))


def known_flags() -> set[str]:
    """Every flag of the bot (and its report), the simulator, the backtester, the optimiser, the recorder, the bench
    and the mutation and backtest-speed scripts."""
    from aster_mm.accounting.report import build_parser as report_parser
    from aster_mm.backtest.cli import build_parser as backtest_parser
    from aster_mm.bench.cli import parse_args as bench_args
    from aster_mm.recording.recorder import build_parser as record_parser
    from aster_mm.settings.parser import build_parser as bot_parser
    from aster_mm.simulator.cli import build_parser as sim_parser

    flags = set()
    from aster_mm.optimize.cli import build_parser as optimize_parser

    for parser in (bot_parser(), report_parser(), sim_parser(), backtest_parser(), record_parser(), optimize_parser()):
        flags |= set(parser._option_string_actions)
    flags |= help_flags(bench_args, ["--help"])
    for script in ("mutation.py", "backtest_speed.py"):
        shown = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True, timeout=60
        )
        flags |= set(FLAG.findall(shown.stdout))
    return flags


def test_every_flag_the_pages_mention_exists():
    flags = known_flags() | OTHER_PROGRAMS.keys()
    unknown = [
        f"{page.relative_to(ROOT)}:{number}: {flag}"
        for page in PAGES
        for number, line in enumerate(page.read_text().splitlines(), 1)
        for flag in FLAG.findall(line)
        if flag not in flags
    ]
    assert not unknown, "flags no parser has (renamed? gone?): " + ", ".join(unknown)


# ----- docs/architecture.md: the code map and the import contracts -----

ARCHITECTURE = DOCS / "architecture.md"
MODULE_ROW = re.compile(r"^\| `(aster_mm/[\w/]+\.py)` \|", re.M)
PACKAGE_HEADING = re.compile(r"^### `aster_mm\.(\w+)`")
IMPORT_LINE = re.compile(r"^\*\*`aster_mm\.(\w+)` (may import|never imports):\*\* (.+)$", re.M)


def packages() -> set[str]:
    return {p.name for p in (ROOT / "aster_mm").iterdir() if (p / "__init__.py").exists()}


def test_the_code_map_lists_every_module_once():
    listed = MODULE_ROW.findall(ARCHITECTURE.read_text())
    tree = {str(p.relative_to(ROOT)) for p in (ROOT / "aster_mm").rglob("*.py") if p.name != "__init__.py"}
    assert len(listed) == len(set(listed)), "a module is listed twice in docs/architecture.md"
    missing, gone = sorted(tree - set(listed)), sorted(set(listed) - tree)
    assert not missing, f"add a line for each new module to the table of its layer in docs/architecture.md: {missing}"
    assert not gone, f"docs/architecture.md lists modules that are not in the tree: {gone}"


def test_each_module_is_in_the_table_of_its_own_package():
    package, misplaced = None, []
    for line in ARCHITECTURE.read_text().splitlines():
        if line.startswith("### "):
            found = PACKAGE_HEADING.match(line)
            package = found.group(1) if found else "" if line == "### The package root" else None
        elif row := MODULE_ROW.match(line):
            parts = row.group(1).split("/")
            if package is None or (parts[1] if len(parts) > 2 else "") != package:
                misplaced.append(row.group(1))
    assert not misplaced, f"in the wrong table of docs/architecture.md: {misplaced}"


def contracts() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """From pyproject.toml's import contracts: which of the package's sub-packages each one may import, and
    which outside modules it must never import."""
    names = packages()
    forbidden = {name: set() for name in names}
    outside = {name: set() for name in names}
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in config["contracts"]:
        if contract["type"] == "layers":
            above: set[str] = set()
            for layer in contract["layers"]:
                members = {m.strip().removeprefix("aster_mm.") for m in re.split(r"[|:]", layer)}
                for member in members:  # `a | b`: independent, neither imports the other
                    forbidden[member] |= above | (members - {member} if "|" in layer else set())
                above |= members
        elif contract["type"] == "forbidden":
            for source in contract["source_modules"]:
                for target in contract["forbidden_modules"]:
                    if target.startswith("aster_mm."):
                        forbidden[source.removeprefix("aster_mm.")].add(target.removeprefix("aster_mm."))
                    else:
                        outside[source.removeprefix("aster_mm.")].add(target)
        else:
            pytest.fail(f"contract type {contract['type']!r}: teach tests/test_docs.py to read it")
    return {name: names - {name} - forbidden[name] for name in names}, outside


def test_the_import_lines_say_the_contracts():
    may, never = contracts()
    said: dict[str, dict[str, set[str]]] = {"may import": {}, "never imports": {}}
    for package, kind, rest in IMPORT_LINE.findall(ARCHITECTURE.read_text()):
        assert package not in said[kind], f"two '{kind}' lines for aster_mm.{package}"
        said[kind][package] = {m.removeprefix("aster_mm.") for m in re.findall(r"`([\w.]+)`", rest)}
    for package in sorted(packages()):
        assert said["may import"].get(package) == may[package], (
            f"docs/architecture.md: the line '**`aster_mm.{package}` may import:**' must list, per "
            f"pyproject.toml's contracts, {sorted('aster_mm.' + m for m in may[package]) or 'nothing'}"
        )
        assert said["never imports"].get(package, set()) == never[package], (
            f"docs/architecture.md: '**`aster_mm.{package}` never imports:**' must list {sorted(never[package])}"
        )


# ----- docs/simulator.md and docs/options.md: what a new user looks for -----


def test_the_docs_say_where_the_replay_data_comes_from():
    """The README's old "The simulator" section is docs/simulator.md now."""
    simulator = (ROOT / "docs" / "simulator.md").read_text()
    assert "not in this repository" in simulator and "record.py" in simulator
    assert "first book row" in simulator


def test_the_options_page_documents_the_sim_options():
    options = (ROOT / "docs" / "options.md").read_text()
    for flag in ("--start-price", "--tick", "--step"):
        assert f"| `{flag}` |" in options


def test_every_test_the_docs_cite_exists():
    """A test named in the docs (`test_x`, or a family `test_x_` by its prefix) or a test file (`test_x.py`)."""
    tests = sorted((ROOT / "tests").glob("test_*.py"))
    defined = set(re.findall(r"^\s*(?:async )?def (test_\w+)", "\n".join(p.read_text() for p in tests), re.M))
    files = {p.stem for p in tests}
    cited = {n for page in PAGES for n in re.findall(r"\btest_\w+", page.read_text())}
    missing = sorted(
        n
        for n in cited
        if not (any(d.startswith(n) for d in defined) if n.endswith("_") else n in defined or n in files)
    )
    assert not missing, f"the docs cite tests that do not exist: {missing}"
