"""What the service is configured with, and what it serves right now (swapped whole)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mleng.serving.requests import Limits
from mleng.serving.served_model import ServedModel
from mleng.serving.strategy import CHALLENGER_ARM, CHAMPION_ARM, ServingStrategy


@dataclass(frozen=True)
class ServiceSettings:
    """What `mleng serve` configures."""

    model_name: str
    keys_path: Path
    log_url: str
    limits: Limits = field(default_factory=Limits)
    refresh_seconds: float = 1.0
    cache_size: int = 10_000
    log_wait_seconds: float = 2.0
    seed: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """What is served right now, swapped whole on every change."""

    champion: ServedModel | None = None
    challenger: ServedModel | None = None
    strategy: ServingStrategy = field(default_factory=ServingStrategy)

    def versions(self) -> dict[str, str]:
        found = {CHAMPION_ARM: self.champion, CHALLENGER_ARM: self.challenger}
        return {arm: model.version for arm, model in found.items() if model is not None}

    def model_for(self, version: str | None) -> ServedModel | None:
        for model in (self.champion, self.challenger):
            if model is not None and model.version == version:
                return model
        return None
