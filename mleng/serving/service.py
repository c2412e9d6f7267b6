"""The prediction service's core, without HTTP: route, type, score, log, answer; follow the
registry.

Order of a prediction: read the body, route the caller (holdout, canary, bandit), type the rows
against the answering model's contract, score (cache, micro-batch), check the outputs, write the
log record and wait for its commit (bounded), then answer. A caller never gets an answer the log
does not hold. The challenger in shadow mode is scored after the answer, off the hot path.

The registry is polled every `refresh_seconds`: a moved alias or strategy is loaded in the
background and swapped in whole, so requests in flight finish on the old snapshot and none fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from cachetools import LRUCache
from mlflow import MlflowClient

from mleng.errors import MlengError
from mleng.serving import deployment
from mleng.serving.answers import derive_reward, parse_feedback, render_scores
from mleng.serving.bandit import ArmStats
from mleng.serving.batching import MicroBatcher
from mleng.serving.metrics import ServiceMetrics, create_metrics
from mleng.serving.prediction_log import (
    FeedbackRecord,
    LogUnavailable,
    PredictionLog,
    PredictionRecord,
)
from mleng.serving.requests import ModelInputs, RequestError, read_body, type_rows
from mleng.serving.served_model import NonFiniteOutput, Scores, ServedModel, load_served_model
from mleng.serving.snapshot import ServiceSettings, Snapshot
from mleng.serving.strategy import (
    CHAMPION_ARM,
    ArmHealth,
    Route,
    ServingStrategy,
    judge_canary,
    route_request,
)
from mleng.tracking import registry

logger = logging.getLogger("mleng.serving")
_KEEP_LOADED = 4


class ServiceUnavailable(Exception):
    """The service cannot answer now (no champion loaded, log not committing): HTTP 503."""


@dataclass
class _Health:
    requests: int = 0
    errors: int = 0


class PredictionService:
    """Serves `models:/<name>@champion` (and the challenger a strategy needs)."""

    def __init__(self, settings: ServiceSettings, client: MlflowClient | None = None):
        self.settings = settings
        self.client = client or MlflowClient()
        self.snapshot = Snapshot()
        self.metrics: ServiceMetrics = create_metrics()
        self.log = PredictionLog(settings.log_url, max_wait_seconds=settings.log_wait_seconds)
        self.batcher = MicroBatcher()
        self.cache: LRUCache = LRUCache(maxsize=max(1, settings.cache_size))
        self.rewards: dict[str, ArmStats] = defaultdict(lambda: ArmStats(0, 0.0))
        self.health: dict[str, _Health] = defaultdict(_Health)
        # The bandit learns from every reward a version ever earned (`rewards`, rebuilt from the
        # log at start); a canary is judged on what happened since it started (`recent_...`).
        self.recent_rewards: dict[str, ArmStats] = defaultdict(lambda: ArmStats(0, 0.0))
        self.rng = np.random.default_rng(settings.seed)
        self.last_refresh_error: str | None = None
        self._loaded: dict[str, ServedModel] = {}
        self._refresher: asyncio.Task | None = None
        self._refresh_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()

    # lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._restore_rewards)
        await self.refresh()
        self._refresher = asyncio.create_task(self._refresh_forever())
        champion = self.snapshot.champion
        logger.info(
            "serving %s: %s; strategy %s; log %s",
            self.settings.model_name,
            f"champion v{champion.version} ({champion.fast_path} path)"
            if champion
            else "no champion yet (/ready answers 503 until one is set)",
            self.snapshot.strategy.kind,
            self.log.shown_url,
        )

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=5)
        await asyncio.to_thread(self.batcher.close)
        await asyncio.to_thread(self.log.close)

    @property
    def ready(self) -> bool:
        return self.snapshot.champion is not None

    # predictions ----------------------------------------------------------------------------
    async def predict(self, body: bytes, content_type: str, caller: str) -> dict[str, Any]:
        """Answer one request; RequestError (4xx) or ServiceUnavailable (503) otherwise."""
        started = time.perf_counter()
        snapshot = self.snapshot
        if snapshot.champion is None:
            raise ServiceUnavailable(
                f"no champion of model {self.settings.model_name!r} is loaded yet"
                + (f" ({self.last_refresh_error})" if self.last_refresh_error else "")
            )
        rows = read_body(body, content_type, self.settings.limits)
        route = route_request(
            snapshot.strategy, caller, snapshot.versions(), self._arm_rewards(snapshot), self.rng
        )
        model = snapshot.model_for(route.version) or snapshot.champion
        inputs = type_rows(rows, model.numeric_columns, model.categorical_columns)
        request_id = uuid.uuid4().hex
        if route.holdout:
            answer = self._holdout_answer(snapshot, inputs.n_rows)
            version = answer["model_version"]
        else:
            route, model, scores = await self._score_routed(snapshot, route, model, inputs, body)
            answer = render_scores(model, scores)
            version = model.version
        answer |= {"request_id": request_id, "arm": route.arm, "holdout": route.holdout}
        latency_ms = (time.perf_counter() - started) * 1000
        record = PredictionRecord(
            request_id=request_id,
            received_at=time.time(),
            model_name=self.settings.model_name,
            model_version=version or "",
            arm=route.arm,
            served=True,
            caller=caller,
            inputs=inputs.records,
            outputs={k: answer.get(k) for k in ("predictions", "probabilities")},
            latency_ms=latency_ms,
            holdout=route.holdout,
        )
        try:
            await self.log.write_async(record)
        except LogUnavailable as error:
            self.metrics.errors.labels(version or "", route.arm, "log_unavailable").inc()
            raise ServiceUnavailable(f"the prediction was not logged, so not sent: {error}")
        self._count(version or "", route.arm, inputs.n_rows, started)
        if route.shadow_version is not None:
            self._spawn(self._score_shadow(snapshot, route.shadow_version, rows, request_id))
        return answer

    async def _score_routed(
        self,
        snapshot: Snapshot,
        route: Route,
        model: ServedModel,
        inputs: ModelInputs,
        body: bytes,
    ) -> tuple[Route, ServedModel, Scores]:
        """Scores from the routed model; the champion answers if a challenger fails."""
        self.health[model.version].requests += 1
        try:
            return route, model, await self._score(model, inputs, body)
        except Exception as error:
            self.health[model.version].errors += 1
            kind = "non_finite_output" if isinstance(error, NonFiniteOutput) else "model_error"
            self.metrics.errors.labels(model.version, route.arm, kind).inc()
            if model is snapshot.champion or snapshot.champion is None:
                logger.exception("the champion failed to score a request")
                raise ServiceUnavailable(f"model v{model.version} could not score: {error}")
            champion = snapshot.champion
            inputs = type_rows(
                inputs.records, champion.numeric_columns, champion.categorical_columns
            )
            fallback = Route(CHAMPION_ARM, champion.version)
            return fallback, champion, await self._score(champion, inputs, body)

    async def _score(self, model: ServedModel, inputs: ModelInputs, body: bytes) -> Scores:
        key = (model.version, hashlib.blake2b(body, digest_size=16).digest())
        cached = self.cache.get(key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            return cached
        scores = await asyncio.wrap_future(
            self.batcher.submit(model, inputs.numeric, inputs.categorical)
        )
        self.cache[key] = scores
        return scores

    async def _score_shadow(
        self, snapshot: Snapshot, version: str, rows: list[dict], request_id: str
    ) -> None:
        model = snapshot.model_for(version)
        if model is None:
            return
        started = time.perf_counter()
        try:
            inputs = type_rows(rows, model.numeric_columns, model.categorical_columns)
            scores = await asyncio.wrap_future(
                self.batcher.submit(model, inputs.numeric, inputs.categorical)
            )
            outputs, status = render_scores(model, scores), 200
        except Exception as error:  # noqa: BLE001 - logged beside the answer, never raised
            self.metrics.errors.labels(version, "shadow", type(error).__name__).inc()
            outputs, status = {"error": str(error)[:500]}, 500
        record = PredictionRecord(
            request_id=request_id,
            received_at=time.time(),
            model_name=self.settings.model_name,
            model_version=version,
            arm="shadow",
            served=False,
            caller="",
            inputs=[],
            outputs={k: outputs.get(k) for k in ("predictions", "probabilities", "error")},
            latency_ms=(time.perf_counter() - started) * 1000,
            status=status,
        )
        self.log.submit(record)

    def _holdout_answer(self, snapshot: Snapshot, n_rows: int) -> dict[str, Any]:
        baseline = snapshot.champion.baseline if snapshot.champion else None
        if snapshot.strategy.holdout_serves == "nothing" or baseline is None:
            return {"predictions": [None] * n_rows, "probabilities": None, "model_version": None}
        probabilities = baseline.get("probabilities")
        return {
            "predictions": [baseline["prediction"]] * n_rows,
            "probabilities": [probabilities] * n_rows if probabilities else None,
            "model_version": None,
        }

    def _count(self, version: str, arm: str, n_rows: int, started: float) -> None:
        self.metrics.requests.labels(version, arm, "200").inc()
        self.metrics.rows.labels(version, arm).inc(n_rows)
        self.metrics.batch_rows.observe(n_rows)
        self.metrics.latency.labels(version, arm).observe(time.perf_counter() - started)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # feedback -------------------------------------------------------------------------------
    async def feedback(self, payload: Any, caller: str) -> dict[str, Any]:
        """Record the outcome (or reward) of an earlier request; it feeds the bandit and canary."""
        request_id, outcome, reward = parse_feedback(payload)
        served = await asyncio.to_thread(self.log.find_request, request_id)
        if served is None:
            raise RequestError(
                404, f"no prediction with request_id {request_id!r} is in the log", "request_id"
            )
        if reward is None and outcome is not None:
            reward = derive_reward(served, outcome)
        record = FeedbackRecord(request_id, time.time(), caller, outcome, reward)
        try:
            await self.log.write_async(record)
        except LogUnavailable as error:
            raise ServiceUnavailable(f"the feedback was not logged: {error}")
        version, arm = str(served.get("model_version") or ""), str(served.get("arm"))
        if reward is not None and version and not served.get("holdout"):
            for totals in (self.rewards, self.recent_rewards):
                stats = totals[version]
                totals[version] = ArmStats(stats.pulls + 1, stats.reward_sum + reward)
        self.metrics.feedback.labels(version, arm).inc()
        return {"request_id": request_id, "reward": reward, "recorded": True}

    def _arm_rewards(self, snapshot: Snapshot) -> dict[str, ArmStats]:
        return {arm: self.rewards[version] for arm, version in snapshot.versions().items()}

    def _restore_rewards(self) -> None:
        """Rebuild the bandit's rewards from the log, so a restart does not forget them."""
        outcomes = self.log.read_outcomes(self.settings.model_name)
        if outcomes.empty:
            return
        rewarded = outcomes[outcomes["reward"].notna() & ~outcomes["holdout"].astype(bool)]
        for version, group in rewarded.groupby("model_version"):
            if version:
                rewards = group["reward"].astype(float)
                self.rewards[str(version)] = ArmStats(len(rewards), float(rewards.sum()))

    # following the registry -----------------------------------------------------------------
    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            with contextlib.suppress(Exception):
                await self.refresh()

    async def refresh(self) -> Snapshot:
        """Read aliases and strategy; load what changed; swap the snapshot whole."""
        async with self._refresh_lock:
            try:
                state = await asyncio.to_thread(
                    deployment.read_serving_state, self.client, self.settings.model_name
                )
                champion = await self._load(state.champion)
                wanted = state.challenger if state.strategy.needs_challenger else None
                challenger = await self._load(wanted) if wanted != state.champion else None
            except (MlengError, Exception) as error:  # noqa: BLE001 - keep serving what we have
                message = f"{type(error).__name__}: {str(error)[:300]}"
                if message != self.last_refresh_error:  # once per new problem, not every second
                    logger.warning("registry refresh failed: %s", message)
                self.last_refresh_error = message
                return self.snapshot
            self.last_refresh_error = None
            if state.strategy != self.snapshot.strategy:
                self.health.clear()
                self.recent_rewards.clear()
            changed = self.snapshot.versions() != Snapshot(champion, challenger).versions()
            self.snapshot = Snapshot(champion, challenger, state.strategy)
            if changed:
                logger.info("now serving %s", self.snapshot.versions())
            self._forget_unused()
            for alias, model in (("champion", champion), ("challenger", challenger)):
                self.metrics.served_version.labels(alias).set(int(model.version) if model else 0)
            await self._judge_canary()
            return self.snapshot

    async def _load(self, version: str | None) -> ServedModel | None:
        if version is None:
            return None
        if version not in self._loaded:
            self._loaded[version] = await asyncio.to_thread(
                load_served_model, self.client, self.settings.model_name, version
            )
        return self._loaded[version]

    def _forget_unused(self) -> None:
        keep = set(self.snapshot.versions().values())
        for version in list(self._loaded)[:-_KEEP_LOADED]:
            if version not in keep:
                del self._loaded[version]

    async def _judge_canary(self) -> None:
        snapshot = self.snapshot
        if snapshot.strategy.kind != "canary" or snapshot.challenger is None:
            return
        champion, challenger = snapshot.champion, snapshot.challenger
        reason = judge_canary(
            snapshot.strategy, self._arm_health(champion), self._arm_health(challenger)
        )
        if reason is None:
            return
        logger.warning("canary of v%s rolled back: %s", challenger.version, reason)
        ended = ServingStrategy.model_validate(
            {**snapshot.strategy.model_dump(), "kind": "single", "rolled_back": reason}
        )
        self.snapshot = Snapshot(champion, None, ended)
        await asyncio.to_thread(
            deployment.write_strategy, self.client, self.settings.model_name, ended
        )

    def _arm_health(self, model: ServedModel | None) -> ArmHealth:
        if model is None:
            return ArmHealth(0, 0, ArmStats(0, 0.0))
        health = self.health[model.version]
        return ArmHealth(health.requests, health.errors, self.recent_rewards[model.version])

    # admin ----------------------------------------------------------------------------------
    async def set_strategy(self, strategy: ServingStrategy, version: str | None) -> dict:
        await asyncio.to_thread(
            deployment.deploy_strategy, self.client, self.settings.model_name, strategy, version
        )
        await self.refresh()
        return self.status()

    async def roll_back(self) -> dict[str, Any]:
        previous, current = await asyncio.to_thread(
            registry.roll_back_champion, self.client, self.settings.model_name
        )
        await self.refresh()
        return {"rolled_back_from": previous, "champion": current, **self.status()}

    def status(self) -> dict[str, Any]:
        snapshot = self.snapshot
        models = {
            arm: {
                "version": model.version,
                "fast_path": model.fast_path,
                "fast_path_reason": model.fast_path_reason,
                "requests": self.health[model.version].requests,
                "errors": self.health[model.version].errors,
                "rewards": vars(self.rewards[model.version]),
            }
            for arm, model in (("champion", snapshot.champion), ("challenger", snapshot.challenger))
            if model is not None
        }
        return {
            "model": self.settings.model_name,
            "ready": self.ready,
            "strategy": snapshot.strategy.model_dump(),
            "models": models,
            "batches": self.batcher.batches,
            "batched_requests": self.batcher.jobs,
            "cache_entries": len(self.cache),
            "last_refresh_error": self.last_refresh_error,
        }


__all__ = ["PredictionService", "ServiceSettings", "ServiceUnavailable"]
