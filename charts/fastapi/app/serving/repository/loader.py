"""Load one registered version and prove it predicts before anyone is allowed to serve it."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
from mlflow.models import Model

from serving.repository.cost import UNKNOWN_COST, PredictCost, measure_cost
from serving.repository.predictors import (
    IN_MEMORY_PATHS,
    ModelInput,
    Predictor,
    load_predictor,
    row_count,
)
from serving.repository.registry import Registry, RegistryError, VersionRef
from serving.repository.trust import (
    format_refusal,
    location_refusal,
    model_format,
    output_refusal,
    untrusted_refusal,
)


class LoadError(Exception):
    """The version could not be made to serve; the message is one line, safe to return."""


@dataclass(frozen=True)
class LoadedModel:
    variant: str
    ref: VersionRef
    predictor: Predictor
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    workdir: Path | None = None
    cost: PredictCost = UNKNOWN_COST

    @property
    def version(self) -> str:
        return self.ref.version

    def describe(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "model_name": self.ref.model_name,
            "alias": self.ref.alias,
            "version": self.ref.version,
            "run_id": self.ref.run_id,
            "model_uri": self.ref.model_uri,
            "loaded_at": self.loaded_at.isoformat(),
            "predictor": self.predictor.path,
            "n_features": self.predictor.n_features,
            # As measured at load: what decides whether a request's prediction runs on the event loop.
            "predict_cost_ms": {
                "fixed": _finite(self.cost.fixed_ms),
                "per_row": _finite(self.cost.per_row_ms),
            },
        }

    def discard(self) -> None:
        """Free the downloaded files once this model can no longer be swapped back in."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _finite(milliseconds: float) -> float | None:
    return round(milliseconds, 4) if math.isfinite(milliseconds) else None


def smoke_input(predictor: Predictor, example: ModelInput | None) -> ModelInput:
    """The version's input example, or (for a model of numeric inputs) a row of zeros as wide as its
    signature; a model of other types needs its example: no made-up value is known to fit it."""
    if example is not None and row_count(example):
        return example
    if predictor.numeric and predictor.n_features:
        return np.zeros((1, predictor.n_features))
    raise LoadError("model has no input example and no numeric signature to build one: cannot smoke-test it")


def load_version(
    registry: Registry, ref: VersionRef, variant: str, *, allow_code: bool = False
) -> LoadedModel:
    """Locate, download, vet, load and smoke-predict ``ref``; blocking, so callers run it off the event loop.

    Nothing is fetched from outside the registry's artifact store, and nothing is deserialized before the
    MLmodel (read as data) says the format cannot run code, or ``allow_code`` (the operator's opt-in) says
    it may.
    """
    if ref.status != "READY":
        raise LoadError(f"version {ref.version} is {ref.status}, not READY")
    location = registry.locate(ref)
    if refusal := location_refusal(ref.version, location):
        raise LoadError(refusal)
    workdir = Path(tempfile.mkdtemp(prefix=f"model-{ref.model_name}-{ref.version}-"))
    try:
        model_dir = registry.download(ref, location, workdir)
        meta = Model.load(str(model_dir / "MLmodel"))
        found = model_format(meta.flavors)
        if refusal := format_refusal(ref.version, found, allow_code):
            raise LoadError(refusal)
        skops_file = None
        if found.skops_file is not None:
            skops_file = _vetted_skops_file(ref, model_dir, found.skops_file)
        predictor, example = load_predictor(model_dir, meta, skops_file)
        smoke = smoke_input(predictor, example)
        started = time.perf_counter()
        output = predictor.predict(smoke)
        smoke_ms = (time.perf_counter() - started) * 1000
        if len(output) != row_count(smoke):
            raise LoadError(f"smoke prediction returned {len(output)} results for {row_count(smoke)} rows")
        if refusal := output_refusal(ref.version, output):
            raise LoadError(refusal)
        cost = measure_cost(predictor.predict, smoke, smoke_ms)
    except (LoadError, RegistryError):
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    except Exception as error:  # any flavor can fail in its own way; none of it may reach the served set
        shutil.rmtree(workdir, ignore_errors=True)
        raise LoadError(
            f"version {ref.version} failed to load or smoke-predict ({type(error).__name__})"
        ) from error
    if predictor.path in IN_MEMORY_PATHS:  # the files are no longer needed
        shutil.rmtree(workdir, ignore_errors=True)
        return LoadedModel(variant, ref, predictor, cost=cost)
    return LoadedModel(variant, ref, predictor, workdir=workdir, cost=cost)


def _vetted_skops_file(ref: VersionRef, model_dir: Path, name: str) -> Path:
    """The skops file inside ``model_dir``, once its types (read from its schema, not built) are trusted."""
    path = (model_dir / name).resolve()
    if not path.is_relative_to(model_dir.resolve()) or not path.is_file():
        raise LoadError(f"version {ref.version}'s MLmodel names a skops file outside its own files")
    if refusal := untrusted_refusal(ref.version, skops.io.get_untrusted_types(file=path)):
        raise LoadError(refusal)
    return path
