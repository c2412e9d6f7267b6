"""The base of every config model: unknown fields are errors, so typos never pass silently."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that forbids extra fields."""

    model_config = ConfigDict(extra="forbid")
