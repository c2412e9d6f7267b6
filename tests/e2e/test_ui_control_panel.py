"""The control panel as a user clicks it: in the Prefect UI, find `train/weekly`, start a custom
run from its form and watch it complete; in the MLflow UI, see the version it registered and its
aliases. Real `prefect server`, `prefect deploy`, process worker and `mlflow server` processes;
Playwright drives Debian's `chromium` (nothing is downloaded)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.core.tracking.process_helpers import VENV_BIN, free_port, running, venv_env
from tests.e2e.test_deployment import call_api
from tests.helpers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None, reason="playwright is not installed"
    ),
]
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RUN_NAME = "control-panel-check"
TERMINAL = ("Completed", "Failed", "Crashed", "Cancelled")
RUN_TIMEOUT = 480  # seconds; budget 3 trains in about 60-90 s


def descendants(pid: int) -> list[int]:
    """Process ids below `pid` (from /proc): the worker starts each flow run in its own group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


@contextlib.contextmanager
def process_worker(prefect: str, env: dict[str, str], log_path: Path) -> Iterator[None]:
    """A process worker on `local-process`; stopped with SIGINT (it ignores a first SIGTERM),
    then SIGKILL, together with any flow run it left behind."""
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "local-process"], env=env,
            cwd=log_path.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield
    finally:
        left = descendants(worker.pid)
        os.killpg(worker.pid, signal.SIGINT)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@contextlib.contextmanager
def shot_on_failure(page: Page, path: Path) -> Iterator[None]:
    """Save what the browser showed when a step failed, to debug selectors."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the original error matters more
            page.screenshot(path=str(path), full_page=True)
        raise


def start_custom_run(page: Page, ui: str) -> str:
    """Deployments -> weekly (of train) -> Run -> Custom run: budget 3, bootstrap_resamples 100,
    submit, and open the new flow run's page. Returns the flow run id."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    page.goto(f"{ui}/deployments")
    weekly = page.get_by_role("link", name="weekly", exact=True)
    row = (
        page.get_by_role("row")
        .filter(has=weekly)
        .filter(has=page.get_by_role("link", name="train", exact=True))
    )
    row.get_by_role("link", name="weekly", exact=True).click()
    expect(page).to_have_url(re.compile(r"/deployments/deployment/[0-9a-f-]+$"))
    custom_run = page.get_by_text("Custom run", exact=True)
    for _ in range(3):  # a click before the page is wired up opens no menu: click again
        page.get_by_role("button", name="Run", exact=True).click()
        with contextlib.suppress(PlaywrightError):
            custom_run.wait_for(timeout=5000)
            break
    custom_run.click()
    expect(page).to_have_url(re.compile(r"/deployments/deployment/[0-9a-f-]+/run\b"))

    def field(label: str) -> Locator:
        """A form field by the label the UI shows (parameter name, "(Optional)" when defaulted)."""
        return (
            page.locator(".p-label")
            .filter(has=page.get_by_text(re.compile(rf"^{label}( \(Optional\))?$")))
            .last  # the innermost: the field itself, not a group around it
        )

    field("Run Name").get_by_role("textbox").fill(RUN_NAME)
    budget = field("budget")
    budget.get_by_role("button", name="int", exact=True).click()  # `int | None`: pick int
    budget.get_by_role("spinbutton").fill("3")
    field("bootstrap_resamples").get_by_role("spinbutton").fill("100")
    page.get_by_role("button", name="Submit", exact=True).click()
    # The toast reads "<name> scheduled  to start now" (sic). This UI shows it twice, one copy
    # over the other, so its "View run" button is hard to click: follow the run's link on the
    # deployment page instead (under "Next Run", then in the runs list).
    with contextlib.suppress(PlaywrightError):  # the toast is a courtesy: the run is the proof
        page.get_by_text(re.compile(rf"{RUN_NAME}\s+scheduled\s+to\s+start")).first.wait_for()
    # The deployment page lists the new run only once its list refreshes (slow on a loaded
    # machine): find the run the form created by its name, then open its page as a link would.
    flow_run_id = find_run_by_name(f"{ui}/api", RUN_NAME, timeout=60)
    page.goto(f"{ui}/runs/flow-run/{flow_run_id}")
    expect(page).to_have_url(re.compile(rf"/runs/flow-run/{flow_run_id}"))
    return flow_run_id


def find_run_by_name(api: str, name: str, timeout: float) -> str:
    """The id of the flow run the UI's form created, named `name`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = call_api(api, "/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}})
        if found:
            return found[0]["id"]
        time.sleep(1)
    raise AssertionError(f"the Prefect UI's form created no flow run named {name!r}")


def watch_run_state(page: Page, timeout: float) -> str:
    """The state badge in the flow run page's heading once it is final (the UI polls; reload
    now and then anyway). Log lines say "Completed" for each task: only the badge counts."""
    from playwright.sync_api import Error as PlaywrightError

    badge = page.locator(".page-heading .state-badge").first
    deadline = time.monotonic() + timeout
    reloaded = time.monotonic()
    state = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(PlaywrightError):  # mid-reload, a page has no badge yet
            state = badge.inner_text(timeout=5000).strip()
        if state in TERMINAL:
            return state
        if time.monotonic() - reloaded > 30:
            page.reload()
            reloaded = time.monotonic()
        page.wait_for_timeout(2000)
    return state


def test_a_custom_run_started_in_the_prefect_ui_completes_and_its_version_shows_in_mlflow(
    tmp_path: Path,
):
    from playwright.sync_api import expect, sync_playwright

    prefect_port, mlflow_port = free_port(), free_port()
    prefect_ui, mlflow_ui = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    api = f"{prefect_ui}/api"
    env = venv_env(
        PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api, PREFECT_UI_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="2",
        # Only the run the test starts: no cron runs (the hourly monitor) while it waits.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        MLFLOW_TRACKING_URI=mlflow_ui,  # read by the deployment's job_variables when deploying
    )  # fmt: skip
    prefect = str(VENV_BIN / "prefect")

    def cli(*args: str) -> None:
        done = subprocess.run(
            [prefect, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    mlflow_server = [
        str(VENV_BIN / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination", str(tmp_path / "mlartifacts"),
        "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
    ]  # fmt: skip
    mlflow_env = venv_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    prefect_server = [prefect, "server", "start", "--host", "127.0.0.1",
                      "--port", str(prefect_port)]  # fmt: skip
    with (
        running(mlflow_server, f"{mlflow_ui}/health", tmp_path / "mlflow.log", mlflow_env),
        running(prefect_server, f"{api}/health", tmp_path / "prefect.log", env),
    ):
        cli("work-pool", "create", "local-process", "--type", "process")
        cli("variable", "set", "mleng_project_dir", str(ROOT))
        cli("deploy", "--prefect-file", "deployment.yaml", "--all", "--no-prompt")
        with (
            process_worker(prefect, env, tmp_path / "worker.log"),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                headless=True, executable_path=CHROMIUM, args=CHROMIUM_FLAGS
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            with shot_on_failure(page, tmp_path / "prefect-ui.png"):
                flow_run_id = start_custom_run(page, prefect_ui)
                state = watch_run_state(page, RUN_TIMEOUT)
                api_state = call_api(api, f"/flow_runs/{flow_run_id}", {}, method="GET")
                log = (tmp_path / "worker.log").read_text()
                assert state == "Completed", (api_state["state"], log[-4000:])
                # The page heading names the run, and its Parameters tab shows the form's values.
                expect(page.get_by_text(RUN_NAME, exact=True).first).to_be_visible()
                page.get_by_role("tablist").get_by_text("Parameters", exact=True).click()
                shown = page.get_by_role("tabpanel", name="Parameters").get_by_role("code")
                expect(shown).to_contain_text('"budget"')
                parameters = json.loads(shown.inner_text())
                assert parameters["budget"] == 3 and parameters["bootstrap_resamples"] == 100
                assert parameters == api_state["parameters"]
            with shot_on_failure(page, tmp_path / "mlflow-ui.png"):
                page.goto(f"{mlflow_ui}/#/models/adult-income")
                version = page.get_by_role("link", name="Version 1", exact=True)
                row = page.get_by_role("row").filter(has=version)
                expect(row).to_have_count(1, timeout=60_000)
                for alias in ("champion", "challenger"):
                    expect(row.get_by_text(re.compile(rf"^@\s*{alias}$"))).to_be_visible()
                version.click()
                expect(page).to_have_url(re.compile(r"/models/adult-income/versions/1$"))
                for alias in ("champion", "challenger"):
                    expect(page.get_by_text(re.compile(rf"^@\s*{alias}$")).first).to_be_visible()
                # The version's source run is the MLflow run of the flow run the form started.
                expect(page.get_by_text(f"train-{RUN_NAME}", exact=True).first).to_be_visible()
            browser.close()
