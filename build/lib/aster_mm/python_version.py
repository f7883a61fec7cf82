"""The interpreter check, imported first by market_maker.py: on a Python older than 3.11 (no
`asyncio.TaskGroup`, `asyncio.timeout` or `except*`) the bot stops with one clear line and exit status 2,
a configuration error, instead of a traceback from deep in an import. Keep this file and everything
market_maker.py runs before importing it parseable by Python 3.8.
"""

import sys

REQUIRED = (3, 11)


def too_old(version=None) -> str:
    """The error message when `version` (default: this interpreter's) is older than REQUIRED, else ''."""
    major, minor = tuple(version or sys.version_info)[:2]
    if (major, minor) >= REQUIRED:
        return ""
    return (
        f"market_maker.py: error: Python {REQUIRED[0]}.{REQUIRED[1]} or newer is needed, "
        f"this is Python {major}.{minor} ({sys.executable}); build the virtual environment with a newer "
        f"python3 (see README.md, Quick start)"
    )


def require() -> None:
    message = too_old()
    if message:
        print(message, file=sys.stderr)
        raise SystemExit(2)


require()
