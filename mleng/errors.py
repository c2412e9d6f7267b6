"""User-facing errors: each message names the problem, where it is, and the fix."""

from __future__ import annotations


class MlengError(Exception):
    """Base class for errors a user can act on; the CLI prints them without a traceback."""


class CardError(MlengError):
    """The dataset card is missing, unreadable or invalid."""


class DataError(MlengError):
    """The data file cannot be used for training as it is."""


class ValidationFailed(MlengError):
    """The data broke its expectation suite; training must not start."""


class SearchError(MlengError):
    """The search cannot run with the settings given."""


class DataQualityFailed(MlengError):
    """A data check whose policy is `fail` found a problem (leakage, split overlap, ...)."""


class RegistryError(MlengError):
    """The model registry did not answer (unreachable, unreadable) after retries."""
