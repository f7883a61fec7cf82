"""Packaging: pyproject.toml's dependencies are requirements*.txt's, and `pip install .` gives working commands; the
backtest extra accepts the bot's numpy, and backtest.py without it says how to install it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from helpers import PLAIN, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COMMANDS = ("aster-mm", "aster-mm-sim", "aster-mm-backtest", "aster-mm-record", "aster-mm-bench", "aster-mm-optimize")


def requirements(name: str, section: str | None = None) -> list[str]:
    """The requirement lines of a requirements file (comments dropped); with `section`, only the lines after
    the comment line `# <section>` up to the next comment line that starts a section."""
    lines, inside = [], section is None
    for raw in (ROOT / name).read_text().splitlines():
        if re.fullmatch(r"# [A-Z]\w*", raw.strip()):
            inside = section is None or raw.strip() == f"# {section}"
            continue
        line = raw.split("#", 1)[0].strip()
        if line and inside:
            lines.append(line)
    return lines


def test_dependencies_are_the_requirements_files():
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    assert project["dependencies"] == requirements("requirements.txt", "Runtime")
    assert extras["test"] == requirements("requirements.txt", "Tests")
    assert extras["backtest"] == requirements("requirements-backtest.txt")
    assert extras["dev"] == requirements("requirements-dev.txt")


def test_console_scripts_name_real_functions():
    import importlib

    scripts = PYPROJECT["project"]["scripts"]
    assert tuple(sorted(scripts)) == tuple(sorted(COMMANDS))
    for target in scripts.values():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), target


def test_version_is_the_package_attribute():
    import aster_mm

    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "aster_mm.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", aster_mm.__version__)


@pytest.mark.timeout(180)
def test_pip_install_gives_working_commands(tmp_path):
    """The wheel `pip install .` builds, installed on its own (no dependencies: those of this environment serve),
    runs every console script's --help from a folder that holds no source."""
    wheels, prefix, source = tmp_path / "wheels", tmp_path / "prefix", tmp_path / "source"
    # built from a copy: setuptools writes build/ and *.egg-info into the tree it builds
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "mutants", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", str(source), "-w", str(wheels)], check=True, timeout=150)
    (wheel,) = wheels.glob("aster_mm-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--prefix", str(prefix), str(wheel)], check=True, timeout=60)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    env = {**os.environ, "PYTHONPATH": str(site)}
    assert (site / "aster_mm" / "core" / "decisions.py").is_file()
    for command in COMMANDS:
        done = subprocess.run(
            [str(prefix / "bin" / command), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command} --help: {done.stderr[-500:]}"
        assert done.stdout.startswith("usage:"), command


# ----- the backtest extra: backtest.py without it says how to install it; it accepts the bot's numpy
WITHOUT_EXTRA = """
import sys
class NoExtra:  # as if requirements-backtest.txt were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"hftbacktest", "numba", "polars", "matplotlib"}:
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, NoExtra())
from aster_mm.backtest.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("args", [["--help"], ["--data", "data", "--symbol", "ETHUSDT"]], ids=["help", "run"])
def test_backtest_without_its_extra(args, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *args],
        cwd=tmp_path,
        env={**PLAIN, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if args == ["--help"]:
        assert done.returncode == 0 and done.stdout.startswith("usage: backtest.py"), done.stderr
        assert "--buy-spread" in done.stdout or "strategy flag" in done.stdout
    else:
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.splitlines()
        assert "pip install -r requirements-backtest.txt" in line and "Traceback" not in line


def test_the_bots_numpy_is_one_the_backtest_extra_accepts():
    """Installing requirements-backtest.txt after requirements.txt must not change the bot's numpy."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    try:
        needed = metadata.requires("hftbacktest") or []
    except metadata.PackageNotFoundError:
        pytest.skip("the backtest extra is not installed")
    theirs = next(Requirement(r).specifier for r in needed if Requirement(r).name == "numpy")
    text = (ROOT / "requirements.txt").read_text()
    lines = [Requirement(r.split("#")[0]) for r in text.splitlines() if r.startswith("numpy")]
    (ours,) = [r.specifier for r in lines if r.marker is None or r.marker.evaluate()]
    if sys.version_info >= (3, 14):
        pytest.skip("numpy 2.2, the newest hftbacktest 2.4 accepts, has no wheels for Python 3.14")
    versions = [Version(f"{major}.{minor}.{patch}") for major in (1, 2, 3) for minor in range(40) for patch in (0, 99)]
    allowed = [v for v in versions if v in ours]
    assert allowed and all(v in theirs for v in allowed), f"requirements.txt {ours}, hftbacktest {theirs}"
