"""Where steps run: one asyncio event loop in a daemon thread, and a small pool of reusable
daemon threads for synchronous plugins (docs/architecture.md, "The execution model").

- Plugins with ``run_async`` (http, tcp) run on the loop: a thousand of them wait on the
  network at once in one thread, and a timeout or Ctrl-C cancels the request itself.
- Plugins with only ``run`` (shell, file, docker...) run on a worker thread of the pool,
  reused from one attempt to the next; a new thread starts only when every worker is busy.
  Workers are daemons, so a plugin stuck in a call that ignores its timeout is abandoned
  without holding the process at exit.
- The thread that starts a run (the main thread, for the CLI) only waits, and answers
  prompts the steps ask for: Ctrl-C and SIGTERM raise KeyboardInterrupt there
  (cli/process.py), in plain Python code, never inside the loop's machinery; `drive` then
  cancels the work on the loop and waits for it to record how it ended.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
IDLE_WORKERS = 8  # workers kept waiting for work; more are started when all are busy
STOP_S = 5.0  # how long `drive` waits for cancelled steps to record how they ended


class _Shared:
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    lock = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's engine loop, started on first use in a daemon thread."""
    with _Shared.lock:
        if _Shared.loop is None or _Shared.thread is None or not _Shared.thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="runbook-loop", daemon=True)
            thread.start()
            _Shared.loop, _Shared.thread = loop, thread
        return _Shared.loop


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.done():  # the waiting step was cancelled or gave up on it
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)


class WorkerPool:
    """Daemon threads running synchronous plugin calls for the loop."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Callable[..., Any], tuple[Any, ...], Any]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._idle = 0
        self.busy: dict[threading.Thread, str] = {}

    def submit(self, name: str, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run fn(*args) on a worker; the future (of the running loop) gets its result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1  # one waiting worker takes this job
            else:
                threading.Thread(target=self._work, name="runbook-worker", daemon=True).start()
        self._jobs.put((name, fn, args, (loop, fut)))
        return fut

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            name, fn, args, (loop, fut) = self._jobs.get()
            self.busy[me] = name
            me.name = name  # shows in a debugger or faulthandler dump which step is stuck
            result, error = None, None
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the waiting step, which decides
                error = exc
            finally:
                del self.busy[me]
                me.name = "runbook-worker"
            # Counted as idle before the step hears back, so the step's next attempt (or
            # the next step) reuses this thread instead of starting another.
            with self._lock:
                leave = self._idle >= IDLE_WORKERS
                if not leave:
                    self._idle += 1
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, fut, result, error)
            if leave:
                return

    def running(self) -> list[str]:
        return sorted(self.busy.values())

    def finish(self, timeout: float) -> list[str]:
        """Wait up to `timeout` for busy workers (plugins cleaning up after a cancel)."""
        deadline = time.monotonic() + timeout
        while self.busy and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.running()


WORKERS = WorkerPool()

# -- the waiting thread --------------------------------------------------------------------
_CALLER: contextvars.ContextVar[queue.SimpleQueue[Callable[[], None] | None]] = contextvars.ContextVar(
    "runbook_caller"
)


async def in_caller(fn: Callable[..., T], *args: Any) -> T:
    """Run fn in the thread that drives the run (prompts read the terminal there, and a
    Ctrl-C during a prompt lands in that thread as it always did)."""
    jobs = _CALLER.get(None)
    if jobs is None:
        return fn(*args)
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def job() -> None:
        try:
            result = fn(*args)
        except Exception as exc:  # the step decides; a KeyboardInterrupt goes to drive()
            loop.call_soon_threadsafe(_settle, fut, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, fut, result, None)

    jobs.put(job)
    return await fut


async def _with_caller(coro: Coroutine[Any, Any, T], jobs: queue.SimpleQueue[Any]) -> T:
    _CALLER.set(jobs)
    return await coro


def drive(coro: Coroutine[Any, Any, T], on_interrupt: Callable[[BaseException], None]) -> T:
    """Run coro on the engine loop and wait for it here, answering its prompts.

    A KeyboardInterrupt (Ctrl-C, or SIGTERM's subclass) arriving while waiting is passed
    to on_interrupt (which stops sync plugins), cancels the coroutine, waits a moment for
    the cancelled steps to record how they ended, and is raised again."""
    loop = event_loop()
    if threading.current_thread() is _Shared.thread:
        coro.close()
        raise RuntimeError("drive() called from the engine loop itself")
    jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
    future = asyncio.run_coroutine_threadsafe(_with_caller(coro, jobs), loop)
    future.add_done_callback(lambda _f: jobs.put(None))
    try:
        while (job := jobs.get()) is not None:
            job()
    except KeyboardInterrupt as exc:
        on_interrupt(exc)
        future.cancel()
        deadline = time.monotonic() + STOP_S
        try:
            while (left := deadline - time.monotonic()) > 0 and jobs.get(timeout=left) is not None:
                pass  # prompts asked while stopping are not answered
        except queue.Empty:
            pass
        raise
    return future.result()
