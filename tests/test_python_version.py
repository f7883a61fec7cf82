"""The Python version check (aster_mm/python_version.py): market_maker.py parses on Python 3.10, so the check can
run and say what is needed instead of a traceback."""

from __future__ import annotations

import ast
import subprocess
import sys

from helpers import ROOT

from aster_mm import python_version


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
