"""What a model version was made from: a digest of its data, its card and the code, recorded as
version tags, so a run on unchanged inputs can say so instead of registering a copy."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mleng.card import DatasetCard

_PACKAGE = Path(__file__).resolve().parents[1]
TAG_PREFIX = "mleng.lineage."


def digest_code(package: Path = _PACKAGE) -> str:
    """A digest of the core library's source: another version of the code trains another model."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def digest_card(card: DatasetCard) -> str:
    """A digest of the card's settings as validated (paths as given, overrides applied)."""
    settings = card.model_dump(mode="json", exclude={"path", "expectations"})
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Lineage:
    """The digests of one run's inputs, and the seed that drove it."""

    data: str
    card: str
    code: str
    seed: int

    def as_tags(self) -> dict[str, str]:
        return {
            f"{TAG_PREFIX}data_digest": self.data,
            f"{TAG_PREFIX}card_digest": self.card,
            f"{TAG_PREFIX}code_digest": self.code,
            f"{TAG_PREFIX}seed": str(self.seed),
        }

    def matches(self, tags: dict[str, str]) -> bool:
        """Whether a version's tags record the same data, card and code. The seed is left out:
        another seed on the same inputs is not new evidence, only another draw."""
        compared = {k: v for k, v in self.as_tags().items() if not k.endswith(".seed")}
        return all(tags.get(key) == value for key, value in compared.items())


def describe_lineage(card: DatasetCard, data_digest: str, seed: int) -> Lineage:
    """The lineage of a run on `card` over data with `data_digest`."""
    return Lineage(data_digest, digest_card(card), digest_code(), seed)
