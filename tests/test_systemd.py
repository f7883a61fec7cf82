"""The unit files are accepted by systemd-analyze (where it exists), with the paths they name."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aster_mm.core.config import Config
from aster_mm.ops.unattended import OpsSettings

UNITS = Path(__file__).resolve().parent.parent / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(
    "unit, instance",
    [("market_maker.service", "market_maker.service"), ("market_maker@.service", "market_maker@ETHUSDT.service")],
)
def test_unit_verifies(tmp_path, unit, instance):
    # systemd-analyze checks that ExecStart exists: point the unit's install root at a scratch copy.
    root = tmp_path / "aster-mm"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (root / "market_maker.py").touch()
    text = (UNITS / unit).read_text().replace("/opt/aster-mm", str(root))
    (tmp_path / instance).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / instance)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("unit", ["market_maker.service", "market_maker@.service"])
def test_unit_stops_with_sigterm_and_time_to_cancel(unit):
    text = (UNITS / unit).read_text()
    for line in (
        "KillSignal=SIGTERM",
        "Restart=on-failure",
        "NoNewPrivileges=true",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "PrivateTmp=true",
        "ReadWritePaths=",
        "EnvironmentFile=",
        "WorkingDirectory=",
    ):
        assert line in text
    stop = int(text.split("TimeoutStopSec=")[1].split()[0])
    assert stop >= 10  # shutdown's own cancel budget is 5 s


def systemd_version() -> int:
    out = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"systemd (\d+)", out)
    return int(match.group(1)) if match else 0


def setting(text: str, name: str) -> str:
    return re.search(rf"^{name}=(.*)$", text, re.M).group(1).strip()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or systemd_version() < 250,
    reason="systemd-analyze security --offline needs systemd 250 or later",
)
@pytest.mark.parametrize("unit", ["market_maker.service", "market_maker@.service"])
def test_unit_exposure_is_at_most_3(tmp_path, unit):
    target = tmp_path / unit.replace("@.", "@ETHUSDT.")
    target.write_text((UNITS / unit).read_text())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = float(re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout).group(1))
    assert score <= 3.0, result.stdout


@pytest.mark.parametrize("unit", ["market_maker.service", "market_maker@.service"])
def test_unit_waits_for_ready_feeds_a_watchdog_and_restarts_within_the_start_up_time(unit):
    text = (UNITS / unit).read_text()
    assert setting(text, "Type") == "notify" and setting(text, "NotifyAccess") == "main"
    watchdog = int(setting(text, "WatchdogSec"))
    assert OpsSettings().loop_limit < watchdog <= 120  # a legitimately slow step is not a frozen loop
    start_timeout = Config(symbol="X").start_timeout
    # READY comes after the REST take-over and the first stream connections, each retried for start_timeout.
    assert int(setting(text, "TimeoutStartSec")) > 2 * start_timeout
    # Every failed start lasts start_timeout plus RestartSec: an exchange outage at boot of 2 minutes (and
    # even of 10) must not use up the start budget, however the starts fall in StartLimitIntervalSec.
    per_start = start_timeout + int(setting(text, "RestartSec"))
    assert math.ceil(600 / per_start) + 1 <= int(setting(text, "StartLimitBurst"))
    assert "2" in setting(text, "RestartPreventExitStatus").split()
    for line in (
        "UMask=0077",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ):
        assert line in text


def test_readme_service_steps_make_a_nologin_system_user_and_a_system_python_venv():
    readme = (UNITS.parent / "README.md").read_text()
    steps = readme.split("## Running as a service")[1].split("```bash")[1].split("```")[0]
    assert "python3-venv" in steps and "/usr/bin/python3 -m venv" in steps
    assert re.search(r"useradd --system .*--shell /usr/sbin/nologin astermm", steps)
    assert "chmod 600 .env" in steps
