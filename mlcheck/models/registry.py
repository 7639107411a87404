"""The MLflow model registry: registering a trained model under an alias, and gated promotion.

Aliases replace the deprecated stages: the seeds' "Staging -> Production" is
`challenger -> champion` here. Promotion moves the target alias only when the gate passed,
records the decision on the model version, and does nothing the second time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcheck.errors import ConfigError
from mlcheck.models.mlflow_server import call
from mlcheck.results import Outcome, SuiteResult

__all__ = ["Promotion", "partial_reason", "promote", "register_model", "version_of"]

TAG_PREFIX = "mlcheck.gate"


def _client() -> Any:
    import mlflow
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow.get_tracking_uri())


def register_model(model_dir: str | Path, name: str, alias: str | None = None) -> str:
    """Log the MLflow model directory to a run, register it under `name`, set `alias`."""
    import mlflow

    def log_and_register() -> Any:
        with mlflow.start_run(run_name=f"mlcheck train {name}") as run:
            mlflow.log_artifacts(str(model_dir), artifact_path="model")
        return mlflow.register_model(f"runs:/{run.info.run_id}/model", name)

    version = call(f"register model {name!r}", log_and_register)
    if alias:
        call(
            f"set alias {alias!r} of {name!r}",
            _client().set_registered_model_alias,
            name,
            alias,
            version.version,
        )
    return str(version.version)


def version_of(name: str, alias: str) -> str:
    """The version an alias points to; a missing model or alias is a ConfigError naming it."""
    client = _client()
    model = call(f"model name {name!r}", client.get_registered_model, name)
    aliases = dict(getattr(model, "aliases", {}) or {})
    if alias not in aliases:
        known = ", ".join(f"@{a}" for a in sorted(aliases)) or "none"
        raise ConfigError(
            f"alias {alias!r} of model {name!r} does not exist (aliases: {known}); "
            f"register a version with --register {name} --alias {alias}"
        )
    return str(aliases[alias])


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    to_alias: str
    outcome: Outcome
    changed: bool
    message: str

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is Outcome.PASS else (1 if self.outcome is Outcome.FAIL else 2)


def _gate_matches(suite: SuiteResult, name: str, from_alias: str, version: str) -> bool:
    """The gate judged exactly this version: named by it, or by an alias that pointed at it
    then (an alias that moved since names another version: that one was never gated)."""
    model = str(suite.context.get("model", ""))
    if model == f"models:/{name}/{version}":
        return True
    return (
        model.startswith(f"models:/{name}") and str(suite.context.get("model_version")) == version
    )


def partial_reason(suite: SuiteResult) -> str:
    """Why the gate run is not a full one ("" when every gate suite ran, nothing deselected);
    a gate.json that does not say which suites ran is not taken for a full run."""
    selection = suite.context.get("selection")
    if not isinstance(selection, dict):
        return "the gate.json does not record which suites ran (context.selection)"
    if selection.get("full") is True:
        return ""
    return str(selection.get("summary") or "a partial run")


def promote(
    name: str,
    suite: SuiteResult,
    from_alias: str = "challenger",
    to_alias: str = "champion",
    allow_partial: bool = False,
) -> Promotion:
    """Move `to_alias` to the version `from_alias` names, only if `suite` (its gate run) passed
    and was a full run (every gate suite, nothing deselected), unless `allow_partial`."""
    if from_alias == to_alias:
        raise ConfigError(f"--from={from_alias!r} and --to={to_alias!r} must differ")
    client = _client()
    version = version_of(name, from_alias)
    if not _gate_matches(suite, name, from_alias, version):
        raise ConfigError(
            f"the gate run is for model={suite.context.get('model')!r}, not "
            f"models:/{name}@{from_alias} (version {version}); run the gate on that model first"
        )
    partial = partial_reason(suite)
    if partial and not allow_partial:
        raise ConfigError(
            f"the gate run is not a full one ({partial}), so it cannot promote "
            f"models:/{name}@{from_alias}; gate every suite (no --only, -k, -m or suite paths), "
            "or pass --allow-partial to promote on the suites that ran"
        )
    model = call(f"model name {name!r}", client.get_registered_model, name)
    current = dict(getattr(model, "aliases", {}) or {}).get(to_alias)
    if current is not None and str(current) == version and suite.verdict is Outcome.PASS:
        return Promotion(
            name,
            version,
            to_alias,
            Outcome.PASS,
            False,
            f"{name} version {version} is already @{to_alias}; nothing to change",
        )
    verdict = suite.verdict
    tags = {
        f"{TAG_PREFIX}.outcome": verdict.value,
        f"{TAG_PREFIX}.run_id": str(suite.context.get("run_id", "")),
        f"{TAG_PREFIX}.time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        f"{TAG_PREFIX}.failed": ", ".join(g.name for g in suite.gates if g.outcome.blocks)[:4000],
        f"{TAG_PREFIX}.partial": partial[:4000] or "no",
    }
    for key, value in tags.items():
        call(
            f"tag {name} version {version}", client.set_model_version_tag, name, version, key, value
        )
    if verdict is not Outcome.PASS:
        blocked = [g.message for g in suite.gates if g.outcome.blocks][:5]
        return Promotion(
            name,
            version,
            to_alias,
            verdict,
            False,
            f"{name} version {version} stays where it is: the gate said {verdict.value}: "
            + "; ".join(blocked),
        )
    call(
        f"set alias {to_alias!r} of {name!r}",
        client.set_registered_model_alias,
        name,
        to_alias,
        version,
    )
    before = f" (was version {current})" if current is not None else ""
    return Promotion(
        name,
        version,
        to_alias,
        Outcome.PASS,
        True,
        f"{name} version {version} is now @{to_alias}{before}",
    )
