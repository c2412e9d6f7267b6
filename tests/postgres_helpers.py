"""A real PostgreSQL server for a test: Debian's `postgresql` binaries, a cluster in a temporary
folder, a free port on 127.0.0.1, stopped by its process id however the test ends."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.tracking.process_helpers import free_port


def find_postgres_bin() -> Path | None:
    """The folder of `initdb` and `pg_ctl` (Debian keeps them out of PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def as_server_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the package's `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield `postgresql://mleng@127.0.0.1:PORT` of a fresh cluster (trust auth, loopback only)."""
    binaries = find_postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does)")
    folder = Path(tempfile.mkdtemp(prefix="mleng-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    run = [str(binaries / "initdb"), "-D", str(data), "-U", "mleng", "--auth=trust", "-E", "UTF8"]
    done = subprocess.run(
        as_server_user([*run, "--no-locale"]), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log")]
    try:
        done = subprocess.run(
            as_server_user([*start, "-w", "-t", "60", "start"]),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        assert done.returncode == 0, done.stdout + done.stderr + log
        yield f"postgresql://mleng@127.0.0.1:{port}"
    finally:
        stop_cluster(binaries, data)
        shutil.rmtree(folder, ignore_errors=True)


def stop_cluster(binaries: Path, data: Path) -> None:
    """`pg_ctl stop -m fast`, then SIGKILL the postmaster by its recorded pid if it lingers."""
    subprocess.run(
        as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().splitlines()[0])
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
