"""What a new user meets before the bot trades: paths that work on any checkout, the Python version."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_file_names_an_absolute_machine_path():
    """Recorded data is found relative to the repository (`ROOT.parent / "shared"`), so CI runs those tests."""
    pattern = re.compile(r"""["'](/work|/home|/Users|/opt/aster-mm/shared)/""")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in ROOT.rglob("*.py") if ".venv" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
