"""The unit files are accepted by systemd-analyze (where it exists), with the paths they name."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit, instance", [("market_maker.service", "market_maker.service"),
                                            ("market_maker@.service", "market_maker@ETHUSDT.service")])
def test_unit_verifies(tmp_path, unit, instance):
    # systemd-analyze checks that ExecStart exists: point the unit's install root at a scratch copy.
    root = tmp_path / "aster-mm"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (root / "market_maker.py").touch()
    text = (UNITS / unit).read_text().replace("/opt/aster-mm", str(root))
    (tmp_path / instance).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / instance)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit", ["market_maker.service", "market_maker@.service"])
def test_unit_stops_with_sigterm_and_time_to_cancel(unit):
    text = (UNITS / unit).read_text()
    for line in ("KillSignal=SIGTERM", "Restart=on-failure", "NoNewPrivileges=true", "ProtectSystem=strict",
                 "ProtectHome=true", "PrivateTmp=true", "ReadWritePaths=", "EnvironmentFile=",
                 "WorkingDirectory="):
        assert line in text
    stop = int(text.split("TimeoutStopSec=")[1].split()[0])
    assert stop >= 10     # shutdown's own cancel budget is 5 s
