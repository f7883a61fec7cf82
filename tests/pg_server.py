"""A throwaway PostgreSQL server for a test, from Debian's binaries (package postgresql; .ci/run installs it).

initdb and pg_ctl start one on a free port on 127.0.0.1 with its unix socket beside its data, in a fresh
directory; the fixture yields its SQLAlchemy URL and stops it (immediate mode) and removes it at the end. As root
they run as the `postgres` user (the server refuses to run as root), in a directory made for it under /tmp:
pytest's own tmp_path sits in a directory only root can enter. It starts in well under a second."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PASSWORD = "secret-pg"  # the URL carries one (trust auth ignores it), so a test can check it is never shown


def _initdb() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    initdb = _initdb()
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb): apt-get install postgresql")
    as_root = os.geteuid() == 0
    home = Path(tempfile.mkdtemp(prefix="aster-mm-pg-"))
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(home, "postgres")
    data, port = home / "data", _free_port()
    pg_ctl = [*run_as, str(initdb.parent / "pg_ctl"), "-D", str(data), "-w", "-t", "30"]
    started = time.monotonic()
    subprocess.run([*run_as, str(initdb), "-D", str(data), "-U", "test", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*pg_ctl, "-o", options, "-l", str(home / "log"), "start"], check=True, capture_output=True, timeout=60
    )
    print(f"postgresql {initdb.parts[4]} ready in {time.monotonic() - started:.2f} s on port {port}")
    try:
        yield f"postgresql://test:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)
