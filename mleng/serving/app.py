"""The HTTP face of the prediction service (FastAPI): authentication, bodies, status codes.

Routes stay thin: each checks the caller's role, hands the body to `PredictionService` and turns
its exceptions into answers (`RequestError` -> its 4xx, `ServiceUnavailable` -> 503). Bodies are
read raw and parsed with orjson (FastAPI's model parsing costs more than the fast path scores),
and their schemas are declared in OpenAPI by hand, so the docs and schemathesis still see them.
"""

import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mleng.errors import MlengError
from mleng.serving.keys import ApiKey, KeyRing
from mleng.serving.openapi_schema import (
    ADMIN_STRATEGY_BODY,
    ERROR_RESPONSES,
    FEEDBACK_BODY,
    PREDICT_BODY,
    predict_body,
    row_schema,
)
from mleng.serving.requests import RequestError
from mleng.serving.service import PredictionService, ServiceSettings, ServiceUnavailable
from mleng.serving.strategy import ServingStrategy


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(status: int, message: str, field: str | None = None) -> OrjsonResponse:
    body = {"error": {"status": status, "message": message}}
    if field is not None:
        body["error"]["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return OrjsonResponse(body, status_code=status, headers=headers)


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def create_app(settings: ServiceSettings, service: PredictionService | None = None) -> FastAPI:
    """The service app; `uvicorn` runs it (`mleng serve`)."""
    keys = KeyRing(settings.keys_path)
    core = service or PredictionService(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await core.start()
        try:
            yield
        finally:
            await core.stop()

    app = FastAPI(
        title=f"mleng prediction service: {settings.model_name}",
        description="Predictions from the MLflow registry's champion, with its strategies.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=OrjsonResponse,
    )
    app.state.service = core

    def caller_with(*roles: str) -> Any:
        # async: a plain function would be sent to a thread pool on every request (22% of the
        # event loop's time in a 1-row profile); the check is a hash and a dict lookup.
        async def check(authorization: Annotated[str | None, Header()] = None) -> ApiKey:
            scheme, _, token = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError(401, "send an API key: Authorization: Bearer <key>")
            key = keys.identify(token.strip())
            if key is None:
                raise AuthError(401, "the API key is not valid")
            if roles and key.role not in roles:
                raise AuthError(
                    403, f"a {key.role!r} key cannot do this; it needs a {' or '.join(roles)} key"
                )
            return key

        return check

    any_key = Depends(caller_with())

    @app.exception_handler(AuthError)
    async def on_auth_error(request: Request, error: AuthError) -> Response:
        return error_response(error.status, error.message)

    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, error: RequestError) -> Response:
        core.metrics.errors.labels("", "", "invalid_input").inc()
        return error_response(error.status, error.message, error.field)

    @app.exception_handler(MlengError)
    async def on_conflict(request: Request, error: MlengError) -> Response:
        return error_response(409, str(error))

    @app.exception_handler(ServiceUnavailable)
    async def on_unavailable(request: Request, error: ServiceUnavailable) -> Response:
        return error_response(503, str(error))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> Response:
        return error_response(422, str(error.errors())[:1000])

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, error: StarletteHTTPException) -> Response:
        return error_response(error.status_code, str(error.detail))

    @app.get("/health", tags=["operations"], summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="The champion is loaded (503 until it is)",
        responses={503: ERROR_RESPONSES[503]},
    )
    async def ready() -> Response:
        if not core.ready:
            return error_response(503, "no champion loaded yet")
        return OrjsonResponse({"status": "ready", "champion": core.snapshot.champion.version})

    @app.post(
        "/predict",
        tags=["predictions"],
        summary="Score one row or a batch",
        openapi_extra={"requestBody": PREDICT_BODY},
        responses=ERROR_RESPONSES,
    )
    async def predict(
        request: Request, caller: Annotated[ApiKey, Depends(caller_with("predict"))]
    ) -> Response:
        body = await read_limited(request, settings.limits.max_body_bytes)
        answer = await core.predict(
            body, request.headers.get("content-type", "application/json"), caller.key_id
        )
        return OrjsonResponse(answer, headers={"X-Request-ID": answer["request_id"]})

    @app.post(
        "/feedback",
        tags=["predictions"],
        summary="The true outcome or a reward for an earlier request",
        openapi_extra={"requestBody": FEEDBACK_BODY},
        responses=ERROR_RESPONSES,
    )
    async def feedback(
        request: Request, caller: Annotated[ApiKey, Depends(caller_with("feedback"))]
    ) -> Response:
        payload = parse_json(await read_limited(request, 1_000_000))
        return OrjsonResponse(await core.feedback(payload, caller.key_id))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (any valid key)")
    async def metrics(caller: Annotated[ApiKey, any_key]) -> Response:
        content, media_type = core.metrics.render()
        return Response(content, media_type=media_type)

    @app.get("/admin/status", tags=["admin"], summary="Versions, strategy, fast paths, health")
    async def status(caller: Annotated[ApiKey, Depends(caller_with("admin"))]) -> Response:
        return OrjsonResponse(core.status())

    @app.post(
        "/admin/strategy",
        tags=["admin"],
        summary="Set the strategy (single moves the champion; others need a challenger)",
        openapi_extra={"requestBody": ADMIN_STRATEGY_BODY},
        responses=ERROR_RESPONSES,
    )
    async def set_strategy(
        request: Request, caller: Annotated[ApiKey, Depends(caller_with("admin"))]
    ) -> Response:
        payload = parse_json(await read_limited(request, 100_000))
        strategy, version = parse_strategy_body(payload)
        return OrjsonResponse(await core.set_strategy(strategy, version))

    @app.post("/admin/reload", tags=["admin"], summary="Read the aliases and strategy now")
    async def reload(caller: Annotated[ApiKey, Depends(caller_with("admin"))]) -> Response:
        await core.refresh()
        return OrjsonResponse(core.status())

    @app.post(
        "/admin/rollback",
        tags=["admin"],
        summary="Move champion back to the previous champion",
        responses=ERROR_RESPONSES,
    )
    async def rollback(caller: Annotated[ApiKey, Depends(caller_with("admin"))]) -> Response:
        return OrjsonResponse(await core.roll_back())

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(caller: Annotated[ApiKey, any_key]) -> Response:
        return OrjsonResponse(describe_api(app, core))

    @app.get("/docs", include_in_schema=False)
    async def docs(caller: Annotated[ApiKey, any_key]) -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    return app


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (no unbounded buffering)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body passes the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, f"the body is not valid JSON: {error}") from error


def parse_strategy_body(payload: Any) -> tuple[ServingStrategy, str | None]:
    from pydantic import ValidationError

    if not isinstance(payload, dict):
        raise RequestError(400, "the body must be a JSON object")
    payload = dict(payload)
    version = payload.pop("version", None)
    if version is not None and not isinstance(version, (str, int)):
        raise RequestError(400, "version must be a version number", "version")
    try:
        strategy = ServingStrategy.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise RequestError(422, f"invalid strategy: {first['msg']} ({field})", field) from error
    return strategy, None if version is None else str(version)


def describe_api(app: FastAPI, core: PredictionService) -> dict[str, Any]:
    """The OpenAPI document, with the champion's columns in the /predict body, and the bearer
    scheme on every operation that needs a key."""
    document = copy.deepcopy(app.openapi())
    champion = core.snapshot.champion
    if champion is not None:
        body = predict_body(row_schema(champion.numeric_columns, champion.categorical_columns))
        document["paths"]["/predict"]["post"]["requestBody"] = body
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    for path, operations in document["paths"].items():
        if path in ("/health", "/ready"):
            continue
        for operation in operations.values():
            operation["security"] = [{"bearer": []}]
    return document
