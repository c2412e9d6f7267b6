"""The local stack of `make up`: a Prefect server, an MLflow tracking server, a Prefect worker and
the prediction service, as background processes on 127.0.0.1, recorded by pid under one home
folder (default `.mleng/` in the project):

- `pids/<name>.json`: the pid (and start time) of each process `up` started; `down` stops exactly
  these process groups and nothing else.
- `logs/<name>.log`: each process's output, appended across restarts; `logs/setup.log` the
  `prefect work-pool create` and `prefect deploy` output.
- `prefect/` (PREFECT_HOME: the server's database), `mlflow.db` and `mlartifacts/` (tracking and
  registry), `predictions.db` (the service's log), `keys.json` (key hashes) and `keys.txt` (the
  clear keys made at the first start of the service, mode 0600): all kept by `down`.

Importing this package imports neither Prefect nor MLflow: `status` and a second `up` take well
under a second of our own time.
"""

from mleng.stack.lifecycle import (
    ProcessStatus,
    StackState,
    StopReport,
    ensure_keys,
    has_champion,
    stack_status,
    start_stack,
    stop_stack,
)
from mleng.stack.settings import PROCESS_NAMES, StackError, StackSettings

__all__ = [
    "PROCESS_NAMES",
    "ProcessStatus",
    "StackError",
    "StackSettings",
    "StackState",
    "StopReport",
    "ensure_keys",
    "has_champion",
    "stack_status",
    "start_stack",
    "stop_stack",
]
