"""Runtime defaults for the embedded engines, applied before Prefect or MLflow is imported."""

from __future__ import annotations

import gc
import os

# Each default fixes a measured problem on small offline machines:
# telemetry that needs DNS, a temporary server slower to start than Prefect's 20 s default,
# input hashing of large frames for caching we do not use, and noisy progress output.
RUNTIME_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_TASKS_DEFAULT_NO_CACHE": "true",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    # libgomp threads spin while waiting; when the cores are shared (other jobs, parallel trials)
    # HistGradientBoosting then ran 20x slower here. Passive waiting keeps 2 threads faster than 1.
    "OMP_WAIT_POLICY": "PASSIVE",
    # MLflow retries each HTTP call 7 times (about 4 minutes) before our own registry retries
    # even start; an unreachable tracking server should fail the run in seconds, not minutes.
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}

# Python's collector thresholds: a full collection at most once per this many collections of
# the middle generation (Python's default: 10).
PYTHON_GC_THRESHOLDS = (700, 10, 10)
FULL_COLLECTION_EVERY = 100


def apply_runtime_defaults() -> None:
    """Set each default unless the user already chose a value."""
    for key, value in RUNTIME_DEFAULTS.items():
        os.environ.setdefault(key, value)
    space_full_collections()


def space_full_collections() -> None:
    """Run the collector's full (oldest-generation) collection ten times less often, unless the
    thresholds were already changed from Python's defaults.

    A full collection walks every container object alive, and a training process holds millions
    that never die (the modules of Prefect, MLflow, Great Expectations, scikit-learn); the
    garbage it makes is mostly arrays and frames freed by reference counting, not cycles. A
    `train` run made 10 full collections taking 1.7 s of its 31 s; spaced out, 1 taking 0.26 s,
    with the same peak memory (796 MB against 804 MB). The younger generations, where short-lived
    cycles die, are collected as often as before."""
    if gc.get_threshold() == PYTHON_GC_THRESHOLDS:
        gc.set_threshold(*PYTHON_GC_THRESHOLDS[:2], FULL_COLLECTION_EVERY)


def read_exit_code(code: object) -> int:
    """The process exit code `sys.exit(code)` would give: None is 0, an int itself, anything
    else (a message, already printed) 1."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def exit_process(code: int) -> None:
    """End a command-line process the way the interpreter would, without its teardown.

    Everything an exit must do still happens, in the interpreter's order: thread pools are told
    to stop and non-daemon threads are joined (`threading._shutdown`, what the interpreter
    calls), the atexit handlers run (Prefect drains its log and event workers there, MLflow and
    weakref finalizers close what they opened), logging is shut down and stdout/stderr flushed.
    What is skipped is the final garbage collection and the freeing of every object one by one:
    after a `train` run that heap holds the data, every fitted fold and the libraries' modules,
    and freeing it took 1.3-1.4 s of the process's 40 s here, for nothing the OS does not do.
    """
    import atexit
    import logging
    import sys
    import threading

    # The interpreter's own first step: the hooks that stop thread pools' workers (a pool still
    # open at exit, as MLflow's artifact downloads leave one), then every non-daemon thread joined.
    # Joining first, as this once did, waits forever on an idle pool's workers.
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None and threading.current_thread() is threading.main_thread():
        shutdown()
    else:  # not the main thread, or an interpreter without the hook: join what can end
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not current and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()  # what the interpreter runs first when it finalizes
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    os._exit(code)
