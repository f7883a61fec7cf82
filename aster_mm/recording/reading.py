"""Reading recordings back: which files a data folder holds, plain or gzip, and only their complete rows.

A data folder (one UTC day of record.py's output, or one of ../shared/data/) holds
`<kind>_<SYMBOL>.csv` or `<kind>_<SYMBOL>.csv.gz` (market_csv.py has the columns). A parent folder of
day folders stands for all of them, in the order of their names (record.py names them by UTC day).

A recorder that crashed leaves a last row cut short, and a gzip file cut short (record.py --gzip flushes
a sync point every block, so everything before the last flush decompresses). Readers here keep what
decompresses and drop the row in progress, rather than failing on the file's end.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path

SUFFIXES = (".csv", ".csv.gz")
_CHUNK = 1 << 22


def data_file(folder: Path, kind: str, symbol: str) -> Path:
    """`folder/<kind>_<symbol>.csv` or its .csv.gz; FileNotFoundError if neither, ValueError if both."""
    found = [p for p in (folder / f"{kind}_{symbol}{s}" for s in SUFFIXES) if p.is_file()]
    if not found:
        raise FileNotFoundError(f"{folder / f'{kind}_{symbol}.csv'} not found (nor .csv.gz)")
    if len(found) > 1:
        raise ValueError(f"{folder} holds both {found[0].name} and {found[1].name}: keep one")
    return found[0]


def has_symbol(folder: Path, symbol: str) -> bool:
    return any((folder / f"orderbook_{symbol}{s}").is_file() for s in SUFFIXES)


def symbols(folder: Path) -> list[str]:
    """The symbols with a book file in `folder`."""
    names = {p.name.removeprefix("orderbook_").split(".")[0] for p in folder.glob("orderbook_*.csv*")}
    return sorted(n for n in names if has_symbol(folder, n))


def day_folders(paths: list[Path], symbol: str | None = None) -> list[Path]:
    """Each path that is a data folder (for `symbol`, or for any symbol), else its sub-folders that are,
    by name. FileNotFoundError when a path gives none."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is not a directory")
        holds = (lambda p: has_symbol(p, symbol)) if symbol else (lambda p: bool(symbols(p)))
        days = [path] if holds(path) else sorted(p for p in path.iterdir() if p.is_dir() and holds(p))
        if not days:
            what = f"orderbook_{symbol}.csv" if symbol else "orderbook_<SYMBOL>.csv"
            raise FileNotFoundError(f"{path} holds no {what}[.gz], nor day folders that do")
        out += days
    return out


def complete_bytes(path: Path) -> bytes:
    """The file's text as bytes up to its last complete line: gzip (any number of members) is
    decompressed as far as it goes, so a file cut short by a crash loses only the row in progress."""
    if path.name.endswith(".gz"):
        data = b"".join(_gunzip(path))
    else:
        data = path.read_bytes()
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def _gunzip(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of every gzip member in turn, up to where the file stops making sense."""
    with path.open("rb") as f:
        unzip = zlib.decompressobj(wbits=31)
        while chunk := f.read(_CHUNK):
            while chunk:
                try:
                    yield unzip.decompress(chunk)
                except zlib.error:  # a torn write: what came before it stands
                    return
                if not unzip.eof:
                    break
                chunk = unzip.unused_data  # the next member starts here
                unzip = zlib.decompressobj(wbits=31)
        yield unzip.flush() if not unzip.eof else b""


def head_lines(path: Path, limit: int) -> list[str]:
    """The first `limit` complete lines (header included), without reading the rest of a big file."""
    raw = io.BytesIO()
    if path.name.endswith(".gz"):
        for piece in _gunzip(path):
            raw.write(piece)
            if raw.getvalue().count(b"\n") >= limit:
                break
    else:
        with path.open("rb") as f:
            for _, line in zip(range(limit), f, strict=False):
                raw.write(line)
    text = raw.getvalue()
    text = text[: text.rfind(b"\n") + 1]
    return text.decode().splitlines()[:limit]


def first_line(path: Path) -> str:
    """The header (first line) of a plain or gzip file; '' if it has none yet."""
    lines = head_lines(path, 1)
    return lines[0] if lines else ""
