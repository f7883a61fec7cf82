"""systemd's notify protocol (sd_notify(3)): READY, WATCHDOG, STATUS and STOPPING datagrams.

A few lines of socket code instead of a dependency: one AF_UNIX datagram per message to the socket
named by NOTIFY_SOCKET ('@' at the start means the abstract namespace). Without NOTIFY_SOCKET (not
run by systemd, or Type=simple) every call does nothing. Sending never blocks and never raises.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("mm")


def socket_address(name: str) -> str | bytes:
    """The address to send to: '@name' is the abstract socket '\\0name'."""
    return b"\0" + name[1:].encode() if name.startswith("@") else name


class Notifier:
    def __init__(self, name: str | None):
        self.address = socket_address(name) if name else None
        self._sock: socket.socket | None = None
        self._failed = False
        if self.address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @classmethod
    def from_environ(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` ("READY=1", "STATUS=...") as one datagram; False when it could not be sent."""
        if self._sock is None or self.address is None:  # both set, or neither
            return False
        try:
            self._sock.sendto("\n".join(f.replace("\n", " ") for f in fields).encode(), self.address)
        except OSError as err:
            if not self._failed:  # say it once, not every watchdog period
                log.warning("systemd notify failed: %s", err.strerror or type(err).__name__)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def ping(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str) -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_period(env: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Seconds between pings (half of WatchdogSec, as sd_watchdog_enabled(3) advises), or None when
    systemd asks for none (no WATCHDOG_USEC, or WATCHDOG_PID names another process)."""
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner.isdigit() and int(owner) != (os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2e6
