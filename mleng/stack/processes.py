"""Detached processes recorded by id: start, find alive, stop by process group; ports; HTTP probes.

A record (`<home>/pids/<name>.json`) keeps the pid and, on Linux, the process's start time from
`/proc`: a pid the system gave to another process since is then not mistaken for ours, and is
never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from mleng.stack.settings import ProcessSpec, StackError


@dataclass(frozen=True)
class ProcessRecord:
    """What `up` wrote about a process it started."""

    name: str
    pid: int
    start_ticks: int | None
    started_at: float
    argv: list[str]


def read_record(path: Path) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        path.unlink(missing_ok=True)  # unreadable: nothing can be trusted in it
        return None


def write_record(path: Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record)))
    os.replace(temporary, path)


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_alive(record: ProcessRecord) -> bool:
    """Whether the recorded process still runs (and is the same process, where checkable)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(record.pid, os.WNOHANG)  # reap it if it is our own child that exited
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now holds the pid
    if _is_zombie(record.pid):
        return False
    ticks = _start_ticks(record.pid)
    return record.start_ticks is None or ticks is None or ticks == record.start_ticks


def spawn(spec: ProcessSpec, env: dict[str, str], cwd: Path, log_path: Path) -> ProcessRecord:
    """Start `spec` in its own session (it outlives us), its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n=== {stamp} mleng stack: {shlex.join(spec.argv)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            spec.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    return ProcessRecord(spec.name, process.pid, _start_ticks(process.pid), time.time(), spec.argv)


def stop(
    record: ProcessRecord, first_signal: signal.Signals, timeout: float
) -> tuple[bool, list[int]]:
    """Stop the recorded process group and its other descendants: `first_signal`, then SIGKILL.

    A Prefect worker starts each flow run in a session of its own, outside the worker's group:
    those are found as descendants before the worker exits, then stopped with SIGTERM (a flow
    run then reports itself crashed, while the server still runs). Returns whether something had
    to be killed after `timeout` seconds, and the descendants' pids. Only processes whose start
    time still matches are signalled."""
    killed = False
    family = descendants(record.pid) if is_alive(record) else []
    if is_alive(record):
        _signal_group(record.pid, first_signal)
        if not _wait_gone(record, timeout):
            _signal_group(record.pid, signal.SIGKILL)
            killed = True
            _wait_gone(record, 10)
    # Children may outlive the leader (uvicorn workers, flow runs): none of them is left.
    _signal_group(record.pid, signal.SIGKILL)
    left = [child for child in family if is_alive(child)]
    for child in left:
        _signal_group(child.pid, signal.SIGTERM)  # flow runs lead their own group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child.pid, signal.SIGTERM)
    for child in left:
        if not _wait_gone(child, timeout):
            killed = True
            _signal_group(child.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child.pid, signal.SIGKILL)
    return killed, [child.pid for child in family]


def descendants(pid: int) -> list[ProcessRecord]:
    """The processes below `pid` (Linux /proc; none found elsewhere), as records."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(ProcessRecord("child", child, _start_ticks(child), time.time(), []))
        queue.extend(children.get(child, []))
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(record: ProcessRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(record):
            return True
        time.sleep(0.1)
    return not is_alive(record)


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_owner(port: int) -> str | None:
    """ "pid N: command" of the process listening on `port`, when /proc lets us see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    return f"pid {entry.name}: {command.decode(errors='replace')[:200]}"
    return None


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes] | None:
    """(status, body) of a GET, or None when nothing answers."""
    return http_call(url, None, timeout)


def http_call(url: str, payload: object | None, timeout: float = 2.0, method: str | None = None):
    """(status, body) of a request (JSON body when `payload` is given), None if nothing answers."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return None


def log_tail(path: Path, characters: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-characters:]
    except OSError:
        return ""


def wait_until(check, record: ProcessRecord, log_path: Path, timeout: float) -> None:
    """Wait until `check()` is true while the process lives; raise with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not is_alive(record):
            raise StackError(
                f"{record.name} (pid {record.pid}) exited while starting; its log {log_path} "
                f"ends with:\n{log_tail(log_path)}"
            )
        time.sleep(0.25)
    raise StackError(
        f"{record.name} (pid {record.pid}) did not answer within {timeout:.0f} s; it is left "
        f"running for `mleng stack down`; its log {log_path} ends with:\n{log_tail(log_path)}"
    )
