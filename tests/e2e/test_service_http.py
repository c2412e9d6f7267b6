"""`mleng serve` over real HTTP: keys by role, refused inputs, answers, metrics, a schemathesis run.

One real Adult version is registered and made champion in a sqlite store, and served by a real
`mleng serve` process on a free local port (default `--max-rows`, so the 10,000-row limit is the
one tested). Every call goes through a socket; nothing is imported from the app.
"""

from __future__ import annotations

import collections
import json
import math
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from mleng.tracking import registry
from tests.serving_helpers import (
    NAME,
    adult_split,
    fit_adult_model,
    register_adult_version,
    request_rows,
    serve,
    tracking_store,
)

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
ROLES = ("predict", "feedback", "admin")
JSON = "application/json"


@pytest.fixture(scope="module")
def split():
    return adult_split(n_train=1500, n_test=500)


@pytest.fixture(scope="module")
def service(tmp_path_factory, split):
    """One champion served by a real `mleng serve`; MLflow's URIs are restored afterwards."""
    folder = tmp_path_factory.mktemp("service-http")
    before = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", "")
        uri = tracking_store(folder)
        try:
            client = MlflowClient()
            version = register_adult_version(client, fit_adult_model(split), split)
            registry.move_champion(client, NAME, version, "test_service_http")
            with serve(folder, uri) as process:
                process.folder = folder
                yield process
        finally:
            mlflow.set_tracking_uri(before[0])
            mlflow.set_registry_uri(before[1])


def http(service, method: str, path: str, body: Any = None, **options) -> tuple[int, Any, Any]:
    """(status, headers, decoded body) of one real request; `role` or `auth` picks the header."""
    headers = dict(options.get("headers", {}))
    role, auth = options.get("role", "predict"), options.get("auth")
    if auth is None and role is not None:
        auth = f"Bearer {service.keys[role]}"
    if auth is not None:
        headers["Authorization"] = auth
    data = body
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode()
    if data is not None:
        headers.setdefault("Content-Type", JSON)
    request = urllib.request.Request(service.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, _decoded(response)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, _decoded(error)


def _decoded(response: Any) -> Any:
    payload = response.read()
    if "json" in (response.headers.get("content-type") or ""):
        return json.loads(payload)
    return payload.decode()


def records(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dataframe_records": rows}


def split_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(rows[0])
    return {
        "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}
    }


def mixed_rows(split, n_rows: int) -> list[dict[str, Any]]:
    """`n_rows` real test rows, the first third of them with missing values."""
    test_x = split.test_x
    missing = test_x[test_x.isna().any(axis=1)].head(n_rows // 3)
    rows = pd.concat([missing, test_x[test_x.notna().all(axis=1)].head(n_rows - len(missing))])
    return json.loads(rows.sample(frac=1, random_state=0).to_json(orient="records"))


def csv_body(rows: list[dict[str, Any]]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


# ---------------------------------------------------------------------------------------------
# keys and roles

# path -> (method, the role it needs: None open, "any" any valid key; the status when allowed)
ENDPOINTS = {
    "/health": ("GET", None, 200),
    "/ready": ("GET", None, 200),
    "/metrics": ("GET", "any", 200),
    "/openapi.json": ("GET", "any", 200),
    "/docs": ("GET", "any", 200),
    "/admin/status": ("GET", "admin", 200),
    "/predict": ("POST", "predict", 200),
    "/feedback": ("POST", "feedback", 404),  # an unknown request id: allowed, then not found
    "/admin/reload": ("POST", "admin", 200),
    "/admin/strategy": ("POST", "admin", 409),  # a canary without a challenger: refused, unchanged
    "/admin/rollback": ("POST", "admin", 409),  # no previous champion: refused, unchanged
}
UNKNOWN_KEY = "mleng_0badc0de_" + "A" * 43
CALLERS = {
    "no key": None,
    "basic scheme": "Basic dXNlcjpwYXNzd29yZA==",
    "bearer without key": "Bearer ",
    "key without scheme": "{predict}",
    "unknown key": f"Bearer {UNKNOWN_KEY}",
    "predict key": "Bearer {predict}",
    "feedback key": "Bearer {feedback}",
    "admin key": "Bearer {admin}",
}


def _matrix_body(split, path: str) -> Any:
    return {
        "/predict": records(request_rows(split, 1)),
        "/feedback": {"request_id": "0" * 32, "outcome": ">50K"},
        "/admin/strategy": {"kind": "canary", "fraction": 0.5},
    }.get(path)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_every_endpoint_answers_each_caller_by_role(service, split, path, caller):
    method, needs, allowed = ENDPOINTS[path]
    template = CALLERS[caller]
    auth = None if template is None else template.format(**service.keys)
    status, headers, body = http(
        service, method, path, _matrix_body(split, path), role=None, auth=auth
    )
    role = caller.removesuffix(" key") if caller.removesuffix(" key") in ROLES else None
    if needs is None or (role is not None and needs in ("any", role)):
        assert status == allowed, body
    elif role is None:
        assert status == 401, body
        assert headers["WWW-Authenticate"] == "Bearer"
        assert body["error"]["status"] == 401 and "key" in body["error"]["message"]
    else:
        assert status == 403, body
        assert role in body["error"]["message"] and needs in body["error"]["message"]


def test_a_feedback_key_cannot_predict(service, split):
    status, _, body = http(
        service, "POST", "/predict", records(request_rows(split, 1)), role="feedback"
    )
    assert status == 403, body
    assert "'feedback' key cannot" in body["error"]["message"]


# ---------------------------------------------------------------------------------------------
# refused inputs: a 4xx naming the column (and the row), never a 5xx


def _with(rows: list[dict[str, Any]], row: int, **values: Any) -> list[dict[str, Any]]:
    changed = [dict(r) for r in rows]
    changed[row].update({column.replace("_", "-"): v for column, v in values.items()})
    return changed


def _without(rows: list[dict[str, Any]], row: int, column: str) -> list[dict[str, Any]]:
    changed = [dict(r) for r in rows]
    del changed[row][column]
    return changed


def _literal(rows: list[dict[str, Any]], row: int, column: str, literal: str) -> bytes:
    """Records JSON with a bare literal (Infinity, NaN: not JSON, but Python clients send them)."""
    marker = "__literal__"
    text = json.dumps(records(_with(rows, row, **{column: marker})))
    return text.replace(json.dumps(marker), literal).encode()


def _bad_csv(rows: list[dict[str, Any]]) -> bytes:
    frame = pd.DataFrame(rows).astype(object)
    frame.loc[2, "hours-per-week"] = "forty"
    return frame.to_csv(index=False).encode()


def _wrong_length_split(rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = split_body(rows)
    body["dataframe_split"]["data"][2].pop()
    return body


# id -> (body from 4 real rows, content type, status, the column it names, the row it names)
BAD_INPUTS = {
    "missing column": (lambda r: records(_without(r, 1, "education")), JSON, 400, "education", 1),
    "extra column": (lambda r: records(_with(r, 2, salary=1)), JSON, 400, "salary", 2),
    "number sent as text": (lambda r: records(_with(r, 1, age="40")), JSON, 400, "age", 1),
    "boolean in a numeric column": (
        lambda r: records(_with(r, 3, capital_loss=True)),
        JSON,
        400,
        "capital-loss",
        3,
    ),
    "Infinity literal": (
        lambda r: _literal(r, 2, "hours-per-week", "Infinity"),
        JSON,
        400,
        "hours-per-week",
        2,
    ),
    "-Infinity literal": (lambda r: _literal(r, 1, "age", "-Infinity"), JSON, 400, "age", 1),
    "integer 2**60": (lambda r: records(_with(r, 1, fnlwgt=2**60)), JSON, 400, "fnlwgt", 1),
    "object in a numeric column": (
        lambda r: records(_with(r, 2, age={"years": 40})),
        JSON,
        400,
        "age",
        2,
    ),
    "object in a categorical column": (
        lambda r: records(_with(r, 1, education={"name": "Bachelors"})),
        JSON,
        400,
        "education",
        1,
    ),
    "array in a categorical column": (
        lambda r: records(_with(r, 3, occupation=["Sales"])),
        JSON,
        400,
        "occupation",
        3,
    ),
    "deeply nested array in a categorical column": (
        lambda r: (
            json.dumps(records(_with(r, 1, race="__deep__")))
            .replace('"__deep__"', "[" * 600 + "]" * 600)
            .encode()
        ),
        JSON,
        400,
        "race",
        1,
    ),
    "lone surrogate in a categorical value": (
        lambda r: _literal(r, 2, "sex", '"\\ud800"'),
        JSON,
        400,
        "sex",
        2,
    ),
    "lone surrogate in a column name with NaN": (
        lambda r: _literal(r, 0, "age", "NaN").replace(b'"race"', b'"\\udc80"', 1),
        JSON,
        400,
        None,
        0,
    ),
    "empty records": (lambda r: records([]), JSON, 400, None, None),
    "split row of the wrong length": (_wrong_length_split, JSON, 400, None, 2),
    "invalid JSON": (lambda r: b'{"dataframe_records": [', JSON, 400, None, None),
    "JSON nested beyond the parser's depth": (lambda r: b"[" * 5000, JSON, 400, None, None),
    "neither records nor split": (lambda r: {"rows": r}, JSON, 400, None, None),
    "text/plain content type": (
        lambda r: json.dumps(records(r)).encode(),
        "text/plain",
        415,
        None,
        None,
    ),
    "CSV with text in a numeric column": (_bad_csv, "text/csv", 400, "hours-per-week", 2),
    "CSV that is not UTF-8": (lambda r: b"\xff\xfe\x00age\n1\n", "text/csv", 400, None, None),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_a_bad_input_gets_a_4xx_naming_the_column_and_the_row(service, split, kind):
    build, content_type, expected, column, row = BAD_INPUTS[kind]
    body = build(request_rows(split, 4))
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = http(
        service, "POST", "/predict", data, headers={"Content-Type": content_type}
    )
    assert status == expected, answer
    error = answer["error"]
    assert error["status"] == expected and error["message"], answer
    if column is not None:
        assert f"'{column}'" in error["message"] and error["field"] == column, answer
    if row is not None:
        assert f"row {row}" in error["message"], answer


def test_nan_is_a_null_and_is_accepted(service, split):
    rows = request_rows(split, 4)
    status, _, with_nan = http(service, "POST", "/predict", _literal(rows, 1, "age", "NaN"))
    assert status == 200, with_nan
    _, _, with_null = http(service, "POST", "/predict", records(_with(rows, 1, age=None)))
    assert with_nan["predictions"] == with_null["predictions"]
    assert with_nan["probabilities"] == with_null["probabilities"]


def test_more_rows_than_max_rows_get_413(service, split):
    rows = request_rows(split, 500)
    status, _, answer = http(service, "POST", "/predict", records((rows * 21)[:10_001]))
    assert status == 413, answer
    assert "10001 rows" in answer["error"]["message"] and "10000" in answer["error"]["message"]


def _raw_post(service, head: str, chunks: list[bytes]) -> tuple[int, dict[str, Any]]:
    """Send a request head and body chunks over a socket; read the answer even if the server
    answers before the body is sent (a too large body is refused without reading it)."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    return length is not None and len(body) >= int(length.group(1))


def _head(service, extra: str) -> str:
    return (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {JSON}\r\n"
        f"Authorization: Bearer {service.keys['predict']}\r\n{extra}\r\n"
    )


def test_a_body_declared_larger_than_the_limit_gets_413_before_it_is_sent(service):
    head = _head(service, "Content-Length: 20000001\r\n")
    status, answer = _raw_post(service, head, [b'{"dataframe_records": ['])
    assert status == 413, answer
    assert "20000001 bytes" in answer["error"]["message"]


def test_a_streamed_body_passing_the_limit_gets_413(service):
    """Chunked, with no Content-Length: the limit is counted while the body is read."""
    chunk = b" " * 1_000_000
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 21 + [b"0\r\n\r\n"]
    status, answer = _raw_post(service, _head(service, "Transfer-Encoding: chunked\r\n"), chunks)
    assert status == 413, answer
    assert "limit of 20000000 bytes" in answer["error"]["message"]


# ---------------------------------------------------------------------------------------------
# answers


def test_one_row_and_a_batch_in_records_split_and_csv_give_the_same_answers(service, split):
    rows = mixed_rows(split, 20)
    assert sum(None in row.values() for row in rows) == 6  # real missing values
    answers = {}
    for kind, body, content_type in [
        ("records", records(rows), JSON),
        ("split", split_body(rows), JSON),
        ("csv", csv_body(rows), "text/csv"),
    ]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _, answer = http(
            service, "POST", "/predict", data, headers={"Content-Type": content_type}
        )
        assert status == 200, (kind, answer)
        answers[kind] = answer
    first = answers["records"]
    assert len(first["predictions"]) == 20 and first["model_version"] == "1"
    for answer in answers.values():
        assert answer["predictions"] == first["predictions"]
        for got, want in zip(answer["probabilities"], first["probabilities"], strict=True):
            assert got.keys() == want.keys() == {"<=50K", ">50K"}
            assert all(math.isclose(got[k], want[k], rel_tol=0, abs_tol=1e-12) for k in got)
        assert answer["arm"] == "champion" and answer["holdout"] is False
    assert all(math.isclose(sum(p.values()), 1.0, abs_tol=1e-9) for p in first["probabilities"])
    for position in (0, 7):
        _, _, single = http(service, "POST", "/predict", records([rows[position]]))
        assert single["predictions"] == [first["predictions"][position]]
        got, want = single["probabilities"][0], first["probabilities"][position]
        assert all(math.isclose(got[k], want[k], abs_tol=1e-12) for k in got)


def test_the_request_id_header_is_the_body_s_and_feedback_finds_it(service, split):
    status, headers, answer = http(service, "POST", "/predict", records(request_rows(split, 1)))
    assert status == 200, answer
    assert re.fullmatch(r"[0-9a-f]{32}", answer["request_id"])
    assert headers["X-Request-ID"] == answer["request_id"]
    feedback = {"request_id": answer["request_id"], "outcome": answer["predictions"][0]}
    status, _, recorded = http(service, "POST", "/feedback", feedback, role="feedback")
    assert status == 200, recorded
    assert recorded == {"request_id": answer["request_id"], "reward": 1.0, "recorded": True}
    unknown = {"request_id": "f" * 32, "outcome": ">50K"}
    status, _, refused = http(service, "POST", "/feedback", unknown, role="feedback")
    assert status == 404 and refused["error"]["field"] == "request_id", refused


def test_metrics_count_requests_and_latency_by_version_and_arm(service, split):
    for start in range(3):
        http(service, "POST", "/predict", records(request_rows(split, 2, start=100 + start)))
    status, headers, text = http(service, "GET", "/metrics", role="feedback")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    labels = ('model_version="1"', 'arm="champion"')
    counted = [line for line in text.splitlines() if line.startswith("mleng_requests_total{")]
    answered = [line for line in counted if all(label in line for label in labels)]
    assert answered and float(answered[0].rsplit(" ", 1)[1]) >= 3, counted
    buckets = [
        line
        for line in text.splitlines()
        if line.startswith("mleng_request_latency_seconds_bucket{")
        and all(label in line for label in labels)
    ]
    infinite = [line for line in buckets if 'le="+Inf"' in line]
    assert len(buckets) > 5 and float(infinite[0].rsplit(" ", 1)[1]) >= 3, buckets


def test_the_served_schema_holds_the_champion_s_columns(service, split):
    status, _, document = http(service, "GET", "/openapi.json", role="admin")
    assert status == 200
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]
    row = body["application/json"]["schema"]["oneOf"][0]["properties"]["dataframe_records"]
    assert set(row["items"]["required"]) == set(request_rows(split, 1)[0])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


# ---------------------------------------------------------------------------------------------
# schemathesis against the served schema: no answer is a server error


def _schemathesis(service, schema_path: Path, role: str, paths: list[str], examples: int):
    """One bounded, seeded `schemathesis run` over `paths` with `role`'s key; the HAR report's
    (method, path, status) counts."""
    har = schema_path.parent / f"schemathesis-{role}-{len(paths)}.har.json"
    args = [
        str(SCHEMATHESIS), "run", str(schema_path), "--url", service.url,
        "--checks", "not_a_server_error", "-H", f"Authorization: Bearer {service.keys[role]}",
        "--max-examples", str(examples), "--seed", "20261201", "--generation-deterministic",
        "--workers", "1", "--request-timeout", "30",
        "--no-color", "--report", "har", "--report-har-path", str(har),
        *[part for path in paths for part in ("--include-path", path)],
    ]  # fmt: skip
    done = subprocess.run(
        args, cwd=schema_path.parent, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    entries = json.loads(har.read_text())["log"]["entries"]
    return collections.Counter(
        (e["request"]["method"], "/" + e["request"]["url"].split("/", 3)[3].split("?")[0],
         e["response"]["status"])
        for e in entries
    )  # fmt: skip


def _summary(seen: collections.Counter) -> str:
    """`N requests; /path: {status: n}` (other methods' 405 probes counted apart)."""
    by_path: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (_, path, status), count in seen.items():
        by_path[path][status if status != 405 else "405 (other methods)"] += count
    lines = [f"{path}: {dict(statuses)}" for path, statuses in sorted(by_path.items())]
    return f"schemathesis: {sum(seen.values())} requests; " + "; ".join(lines)


@pytest.fixture(scope="module")
def schema_path(service):
    status, _, document = http(service, "GET", "/openapi.json", role="admin")
    assert status == 200
    path = service.folder / "openapi.json"
    path.write_text(json.dumps(document))
    return path


def test_schemathesis_finds_no_server_error(service, schema_path):
    """Each operation fuzzed (examples, coverage, fuzzing phases) with the key its role needs;
    the mutating admin endpoints have their own run below."""
    seen = collections.Counter()
    seen += _schemathesis(service, schema_path, "predict", ["/predict"], 150)
    seen += _schemathesis(service, schema_path, "feedback", ["/feedback"], 60)
    others = ["/health", "/ready", "/metrics", "/admin/status", "/admin/reload"]
    seen += _schemathesis(service, schema_path, "admin", others, 20)
    print(_summary(seen))
    assert all(status < 500 for _, _, status in seen), seen
    assert seen[("POST", "/predict", 200)] >= 10  # the generated rows reach the model
    assert seen[("POST", "/predict", 400)] >= 10  # and invalid ones are refused by name
    assert {path for _, path, _ in seen} == {"/predict", "/feedback", *others}


def test_schemathesis_on_the_admin_strategy_and_rollback(service, schema_path, split):
    """Strategy and rollback change the registry: fuzzed on their own, then the strategy is set
    back to single (one version, so no champion can move)."""
    try:
        seen = _schemathesis(
            service, schema_path, "admin", ["/admin/strategy", "/admin/rollback"], 60
        )
    finally:
        reset = {"kind": "single", "holdout_fraction": 0.0, "holdout_serves": "baseline"}
        status, _, state = http(service, "POST", "/admin/strategy", reset, role="admin")
    print(_summary(seen))
    assert all(status < 500 for _, _, status in seen), seen
    assert seen[("POST", "/admin/strategy", 409)] >= 1  # a canary or bandit without a challenger
    assert status == 200 and state["models"]["champion"]["version"] == "1", state
    status, _, answer = http(service, "POST", "/predict", records(request_rows(split, 1)))
    assert status == 200 and answer["model_version"] == "1", answer
