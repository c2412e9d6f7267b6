"""The command-line exit without the interpreter's teardown still does what an exit must."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mleng.runtime import read_exit_code

SCRIPT = textwrap.dedent(
    """
    import atexit, logging, sys, threading, time
    from pathlib import Path
    from mleng.runtime import exit_process

    folder = Path(sys.argv[1])
    handler = logging.FileHandler(folder / "log.txt", delay=False)
    logging.getLogger("probe").addHandler(handler)
    logging.getLogger("probe").warning("logged before the exit")
    atexit.register(lambda: (folder / "atexit.txt").write_text("ran"))

    def late_writer():
        time.sleep(0.3)
        (folder / "thread.txt").write_text("finished")

    threading.Thread(target=late_writer).start()  # not a daemon: the exit waits for it
    from concurrent.futures import ThreadPoolExecutor
    idle_pool = ThreadPoolExecutor(2)  # never shut down, as a library may leave one
    idle_pool.submit(time.sleep, 0.01).result()
    sys.stdout.write("unflushed output without a newline")
    exit_process(int(sys.argv[2]))
    """
)


@pytest.mark.parametrize("code", [0, 3])
def test_exit_process_joins_threads_runs_atexit_flushes_output_and_keeps_the_code(tmp_path, code):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(code)],
        capture_output=True,
        text=True,
        timeout=60,  # an idle pool's workers joined before its stop hook hang here
        check=False,
    )
    assert done.returncode == code, done.stderr
    assert done.stdout == "unflushed output without a newline"
    assert (tmp_path / "thread.txt").read_text() == "finished"
    assert (tmp_path / "atexit.txt").read_text() == "ran"
    assert "logged before the exit" in (tmp_path / "log.txt").read_text()


@pytest.mark.parametrize(("given", "code"), [(None, 0), (0, 0), (2, 2), ("a message", 1)])
def test_exit_codes_follow_sys_exit(given, code):
    assert read_exit_code(given) == code


def test_the_mleng_command_exits_with_its_error_code_and_message(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mleng.cli", "train", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "missing.yaml does not exist" in done.stderr + done.stdout


GC_SCRIPT = textwrap.dedent(
    """
    import gc, sys, weakref
    if sys.argv[1] == "chosen":
        gc.set_threshold(1000, 20, 20)
    if sys.argv[1] != "python":
        from mleng.runtime import apply_runtime_defaults
        apply_runtime_defaults()
    full, freed = [0], [0]
    gc.callbacks.append(lambda phase, info: full.__setitem__(0, full[0] + (
        phase == "stop" and info["generation"] == 2)))
    class Node:
        pass
    def count_freed():
        freed[0] += 1
    kept = [{"i": i} for i in range(200_000)]  # a long-lived heap, as the libraries' modules
    for i in range(200_000):  # short-lived cycles, as a training run makes
        a, b = Node(), Node()
        a.other, b.other = b, a
        weakref.finalize(a, count_freed)
    print(gc.get_threshold(), full[0], freed[0])
    """
)


def run_gc_script(mode: str) -> tuple[str, int, int]:
    done = subprocess.run(
        [sys.executable, "-c", GC_SCRIPT, mode], capture_output=True, text=True, check=True
    )
    thresholds, full, freed = done.stdout.rsplit(" ", 2)
    return thresholds, int(full), int(freed)


def test_full_collections_are_spaced_out_and_short_lived_cycles_still_die():
    python_thresholds, python_full, _ = run_gc_script("python")
    thresholds, full, freed = run_gc_script("defaults")
    assert python_thresholds == "(700, 10, 10)" and thresholds == "(700, 10, 100)"
    assert python_full >= 5 and full <= python_full / 5
    assert freed >= 199_000  # the young generations still collect the cycles


def test_thresholds_a_user_already_chose_are_kept():
    thresholds, _, _ = run_gc_script("chosen")
    assert thresholds == "(1000, 20, 20)"
