"""The log leaves the quoting path: on the event loop records are written a few ms later, in order,
with the text they had when logged; off a loop, and at exit, nothing waits and nothing is lost."""

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest
from helpers import ROOT

from aster_mm.ops.logs import DeferredHandler


class Written(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []
        self.written = asyncio.Event()

    def emit(self, record):
        self.lines.append(record.getMessage())
        self.written.set()


@pytest.fixture
def logged():
    target = Written()
    handler = DeferredHandler([target], flush_after=0.002)
    log = logging.getLogger("test-logs")
    log.propagate, log.level = False, logging.INFO
    log.addHandler(handler)
    yield log, target
    log.removeHandler(handler)


async def test_on_the_loop_a_record_is_written_later_in_order_with_its_text_of_then(logged):
    log, target = logged
    order = {"state": "NEW"}
    log.info("order %s", order)
    log.info("second")
    order["state"] = "FILLED"  # changed after logging: the log says what was true then
    assert target.lines == []  # nothing written on the quoting path
    await asyncio.wait_for(target.written.wait(), 2)
    assert target.lines == ["order {'state': 'NEW'}", "second"]


def test_off_a_loop_a_record_is_written_at_once(logged):
    log, target = logged
    log.warning("before the loop")
    assert target.lines == ["before the loop"]


def test_a_record_queued_when_a_loop_ends_is_written_by_the_next_flush_and_later_loops_flush_too(logged):
    log, target = logged

    async def log_and_leave():
        log.info("queued")

    asyncio.run(log_and_leave())  # the loop ends before its scheduled flush runs
    assert target.lines == []

    async def log_and_wait():
        log.info("next loop")
        await asyncio.wait_for(target.written.wait(), 2)

    asyncio.run(log_and_wait())
    assert target.lines == ["queued", "next loop"]


def test_records_still_queued_at_exit_reach_the_file(tmp_path):
    """A fatal error logged on the loop just before the process exits is in the file and on stdout."""
    path = tmp_path / "mm.log"
    script = textwrap.dedent(f"""
        import asyncio, logging, sys
        sys.path.insert(0, {str(ROOT)!r})
        from aster_mm.ops.logs import setup_logging
        setup_logging({str(path)!r}, "INFO")
        async def main():
            logging.getLogger("mm").critical("the last words")
            sys.exit(1)
        asyncio.run(main())
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert "CRITICAL mm: the last words" in path.read_text()
    assert "the last words" in run.stdout
