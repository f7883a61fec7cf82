"""What a new user meets before the bot trades: paths that work on any checkout, the Python version."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from aster_mm import python_version

ROOT = Path(__file__).resolve().parent.parent


def test_no_file_names_an_absolute_machine_path():
    """Recorded data is found relative to the repository (`ROOT.parent / "shared"`), so CI runs those tests."""
    pattern = re.compile(r"""["'](/work|/home|/Users|/opt/aster-mm/shared)/""")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in ROOT.rglob("*.py")
        if ".venv" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_market_maker_parses_on_python_3_10_so_the_version_check_can_run():
    """`except*` (3.11 grammar) anywhere in market_maker.py would be a SyntaxError before any check runs."""
    for name in ("market_maker.py", "aster_mm/__init__.py", "aster_mm/python_version.py"):
        ast.parse((ROOT / name).read_text(), filename=name, feature_version=(3, 10))


def test_version_check_message():
    assert python_version.too_old((3, 11, 0, "final", 0)) == ""
    assert python_version.too_old((3, 13, 1)) == ""
    message = python_version.too_old((3, 10, 12, "final", 0))
    assert "Python 3.11 or newer is needed" in message and "Python 3.10" in message


def test_bot_on_python_3_10_exits_2_with_the_message_and_no_traceback(tmp_path):
    """The interpreter pretends to be 3.10, then runs market_maker.py as `python market_maker.py --help` does
    (the script's directory first on sys.path)."""
    pretend = (
        f"import runpy, sys; sys.path.insert(0, {str(ROOT)!r}); sys.version_info = (3, 10, 12, 'final', 0); "
        f"sys.argv = ['market_maker.py', '--help']; runpy.run_path({str(ROOT / 'market_maker.py')!r}, "
        "run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", pretend], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "Python 3.11 or newer is needed, this is Python 3.10" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "usage" not in done.stdout


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_says_which_python_and_installs_into_a_virtual_environment():
    quick = readme_section("Quick start")
    assert "Python 3.11 or newer" in quick
    assert "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt" in quick
    service = readme_section("Running as a service")
    assert "system Python" in service and "python3-venv" in service
    assert "sudo /usr/bin/python3 -m venv .venv" in service


def test_the_docs_say_where_the_replay_data_comes_from():
    """The README's old "The simulator" section is docs/simulator.md now."""
    simulator = (ROOT / "docs" / "simulator.md").read_text()
    assert "not in this repository" in simulator and "record.py" in simulator
    assert "first book row" in simulator


def test_the_options_page_documents_the_sim_options():
    options = (ROOT / "docs" / "options.md").read_text()
    for flag in ("--start-price", "--tick", "--step"):
        assert f"| `{flag}` |" in options
