"""The code's shape (team rules): no source file over 400 lines and no function over 60 lines outside tests/ (the
package, scripts/ and the top-level entry points), and no file naming an absolute machine path. A function's
length is what `ast` says: end_lineno - lineno + 1 of every def and async def, nested ones too (decorators not
counted)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers import ROOT

MAX_FUNCTION_LINES = 60


def sources() -> list[Path]:
    found = [*ROOT.glob("*.py"), *(ROOT / "aster_mm").rglob("*.py"), *(ROOT / "scripts").rglob("*.py")]
    return sorted(p for p in found if "__pycache__" not in p.parts)


def function_lengths(source: str) -> dict[str, int]:
    """Qualified name (Class.method, outer.inner) -> lines, for every function in `source`."""
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    assert child.end_lineno is not None
                    lengths[name] = child.end_lineno - child.lineno + 1
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def long_functions() -> dict[str, int]:
    return {
        f"{path.relative_to(ROOT).as_posix()}:{name}": lines
        for path in sources()
        for name, lines in function_lengths(path.read_text()).items()
        if lines > MAX_FUNCTION_LINES
    }


def test_the_checks_see_the_whole_code():
    names = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert {"market_maker.py", "aster_mm/live/bot.py", "aster_mm/core/actions.py", "scripts/mutation.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


def test_a_function_of_61_lines_is_too_long_and_one_of_60_is_not():
    def source(lines: int) -> str:
        body = "".join(f"        x{i} = {i}\n" for i in range(lines - 2))
        return f"class C:\n    def f(self):\n{body}        return 0\n"

    assert function_lengths(source(61)) == {"C.f": 61}
    assert function_lengths(source(60))["C.f"] == MAX_FUNCTION_LINES


def test_no_source_file_is_longer_than_400_lines():
    long = {p.relative_to(ROOT).as_posix(): n for p in sources() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_function_is_longer_than_60_lines():
    assert long_functions() == {}


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
