"""The log: stdout and a rotating file, written off the quoting path.

A log record costs more than the Python of the request it describes: formatting the time, two writes
and, for the rotating file, formatting it again to decide whether to roll over (what that cost and what
moving it saved: docs/performance.md). On the event loop `DeferredHandler` only fixes the record's
text and queues it; the loop writes the queue a few milliseconds later, after the requote that logged
it is on the wire. Off a loop (start-up, exit, another thread) records are written at once, and
`logging.shutdown` at exit writes what is still queued, so nothing is lost on a normal or fatal exit
(a SIGKILL can lose the last few milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLUSH_AFTER = 0.005  # seconds: longer than a requote on loopback, short enough to read live


class DeferredHandler(logging.Handler):
    """Queues records emitted on an event loop and hands them to `targets` when the loop next has time."""

    def __init__(self, targets: list[logging.Handler], flush_after: float = FLUSH_AFTER):
        super().__init__()
        self.targets, self.flush_after = targets, flush_after
        self.pending: list[logging.LogRecord] = []
        self.flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        # The text as of now: an argument read later could have changed (QueueHandler does the same).
        record.msg, record.args = record.getMessage(), None
        self.pending.append(record)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self.flush_on is not loop:  # none scheduled, or on a loop that has since ended
            self.flush_on = loop
            loop.call_later(self.flush_after, self.flush)

    def flush(self) -> None:
        self.acquire()  # the handler's own lock (Handler.acquire: also when it has none)
        try:
            self.flush_on = None
            records, self.pending = self.pending, []
            for record in records:
                for target in self.targets:
                    if record.levelno >= target.level:
                        target.handle(record)
            for target in self.targets:
                target.flush()
        finally:
            self.release()

    def close(self) -> None:
        self.flush()
        super().close()


def setup_logging(path: str, level: str) -> None:
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers.clear()
    root.setLevel(level)
    fmt = logging.Formatter(FORMAT)
    targets: list[logging.Handler] = [
        logging.StreamHandler(sys.stdout),
        logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=5),
    ]
    for target in targets:
        target.setFormatter(fmt)
    root.addHandler(DeferredHandler(targets))
    for noisy in ("websockets", "aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
