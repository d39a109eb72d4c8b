"""A step's whole process tree, found and ended however its processes try to get away.

A process group is not enough: a child can leave it with setsid, and a double-forked
daemon is reparented away from the command, so neither killpg nor walking parent links
reaches them. Three things together do:

- every process of a step carries a token in its environment (TAG_VAR, one value per
  command), inherited by everything it starts, in any session or process group; the tree
  is the set of processes whose /proc/PID/environ holds it, so concurrent steps' trees are
  told apart;
- each process is signalled through a pidfd opened *before* its token is checked, so a pid
  reused by an unrelated process between the scan and the signal is never hit (kernels
  before 5.3 have no pidfds: there, by pid right after the check);
- the runbook process is a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphans are
  reparented to us rather than to init, so we reap the ones we ended (no zombies left).

Ending is SIGTERM to the whole tree, up to TERM_GRACE_S for it to go, then SIGKILL to
whatever is left (repeated until a scan finds none, for a tree that forks while dying).

Why not a cgroup per step: it needs a writable, delegated cgroup v2 hierarchy, which most
containers and CI runners do not give; this works for any user on any Linux. Its limit: a
process that deliberately removes the token from its environment (env -i, unset) *and*
leaves the process group is not found; docs/plugins/shell.md says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import secrets
import select
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

TAG_VAR = "RUNBOOK_STEP_TAG"
TERM_GRACE_S = 0.5
"""How long the tree has between SIGTERM and SIGKILL: short, since the step's own
`timeout` is the command's budget and the step must end at it, not seconds later."""
KILL_ROUNDS = 20
PR_SET_CHILD_SUBREAPER = 36


def new_tag() -> str:
    """A value no other step (of this run or any other) carries."""
    return f"{os.getpid()}-{secrets.token_hex(8)}"


@functools.cache  # once per process (a second prctl would be harmless anyway)
def become_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants (once; Linux only).

    Without it the token still finds every process; with it, the ones we end are our
    children and are reaped here instead of lingering as zombies under a PID 1 that does
    not reap (common in containers)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _carries(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return needle in b"\0" + fh.read()
    except OSError:  # gone, a zombie (empty), or not ours to read
        return False


def _pids() -> Iterator[int]:
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            yield int(name)


@dataclass
class Ending:
    """What ending a tree took: processes found, and which needed SIGKILL."""

    found: set[int] = field(default_factory=set)
    killed: set[int] = field(default_factory=set)
    left: list[int] = field(default_factory=list)

    def describe(self) -> str:
        """'' when SIGTERM ended everything; else ' (2 of 4 processes ignored SIGTERM and
        were killed with SIGKILL)', and any pid that outlived even SIGKILL."""
        parts = []
        if self.killed:
            k, n = len(self.killed), len(self.found)
            of_n = f"{k} of {n} process{'es' if n != 1 else ''}"
            parts.append(f"{of_n} ignored SIGTERM and {'were' if k != 1 else 'was'} killed with SIGKILL")
        if self.left:
            parts.append(f"still running after SIGKILL: pid {', '.join(map(str, self.left))}")
        return f" ({'; '.join(parts)})" if parts else ""


class Tree:
    """The processes carrying one token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._needle = f"\0{TAG_VAR}={token}\0".encode()

    def _open(self) -> dict[int, _Proc]:
        """The tree's live processes, each checked after its pidfd was opened."""
        found: dict[int, _Proc] = {}
        for pid in _pids():
            proc = _Proc.open(pid)
            if proc is None:
                continue
            if _carries(pid, self._needle):
                found[pid] = proc
            else:
                proc.close()
        return found

    def pids(self) -> set[int]:
        found = self._open()
        for proc in found.values():
            proc.close()
        return set(found)

    def end(self, grace: float = TERM_GRACE_S, spare: int | None = None) -> Ending:
        """SIGTERM every process of the tree, wait up to `grace`, SIGKILL the rest.

        `spare` is a pid whose exit status its owner collects (the command's Popen): it is
        ended like the rest but never reaped here."""
        ending = Ending()
        procs = self._open()
        try:
            ending.found.update(procs)
            _send(procs, signal.SIGTERM)
            _wait_exit(procs, grace)
            for _ in range(KILL_ROUNDS):
                alive = {pid: p for pid, p in procs.items() if not p.exited()}
                ending.killed.update(alive)
                _send(alive, signal.SIGKILL)
                _wait_exit(alive, 1.0)  # SIGKILL is not ignorable; only a process stuck in the kernel waits
                # Anything forked while the tree was dying carries the token too.
                new = {pid: p for pid, p in self._open().items() if pid not in procs}
                if not new:
                    break
                ending.found.update(new)
                procs.update(new)
            ending.left = sorted(pid for pid, p in procs.items() if not p.exited())
        finally:
            for proc in procs.values():
                proc.close()
        _reap(ending.found - {spare})
        return ending


class _Proc:
    """One process, through a pidfd (Linux 5.3+: immune to pid reuse), or by pid on older
    kernels (a pid reused within the few milliseconds between the check and the signal
    could then be hit: the price of RHEL 8's kernel)."""

    def __init__(self, pid: int, fd: int | None) -> None:
        self.pid, self.fd = pid, fd

    @classmethod
    def open(cls, pid: int) -> _Proc | None:
        try:
            return cls(pid, os.pidfd_open(pid))
        except (OSError, AttributeError) as exc:
            if isinstance(exc, AttributeError) or exc.errno == errno.ENOSYS:
                return cls(pid, None)
            return None  # gone already

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.fd is not None:
                signal.pidfd_send_signal(self.fd, sig)
            else:
                os.kill(self.pid, sig)

    def exited(self) -> bool:
        if self.fd is None:
            return _state(self.pid) in (None, "Z")
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        return bool(poller.poll(0))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _send(procs: dict[int, _Proc], sig: signal.Signals) -> None:
    for proc in procs.values():
        proc.signal(sig)


def _wait_exit(procs: dict[int, _Proc], within: float) -> None:
    """Until every process has exited (its pidfd turns readable) or `within` passes."""
    poller = select.poll()  # not select(): descriptors above 1023 are fine
    by_fd = {p.fd: p for p in procs.values() if p.fd is not None}
    pending = {p.pid for p in procs.values()}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + within
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        # Without pidfds (old kernels) there is nothing to wait on: look every 20 ms.
        wait_ms = left * 1000 if len(by_fd) == len(pending) else min(left * 1000, 20)
        for fd, _ in poller.poll(wait_ms):
            pending.discard(by_fd[fd].pid)
            poller.unregister(fd)
        pending = {pid for pid in pending if not procs[pid].exited()}


def _reap(pids: set[int]) -> None:
    """Collect the exit status of those that were reparented to us (the subreaper), so they
    do not stay zombies; a pid that is not our child (or is a Popen's) is left alone."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            if _parent(pid) == os.getpid():
                os.waitpid(pid, os.WNOHANG)


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _state(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[0].decode() if fields else None


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None
