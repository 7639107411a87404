"""The run's Prometheus config and alert rules, rendered from `stack/prometheus.yml` and
`stack/alerts.yml` (the files the compose stack uses as they are)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mlcheck.errors import ConfigError
from mlcheck.probes.prometheus import SERVING_JOB, duration
from mlcheck.stack.files import stack_file

__all__ = [
    "GATES_JOB",
    "render_alert_rules",
    "render_prometheus_config",
    "target_of",
]

GATES_JOB = "mlcheck-gates"


def target_of(url: str) -> str:
    """`host:port` of an `http://host:port` URL (what a scrape config's targets list)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or not parts.port:
        raise ConfigError(f"url={url!r} must look like http://127.0.0.1:PORT")
    return f"{parts.hostname}:{parts.port}"


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a YAML mapping; restore it from git")
    return data


def render_alert_rules(out: Path, for_s: float | None = None, source: Path | None = None) -> Path:
    """A copy of the alert rules with every `for:` set to `for_s` seconds (None keeps them).

    A gate run lasts seconds while the production `for:` durations are minutes; only the
    durations change, not the expressions or thresholds.
    """
    data = _load(source or stack_file("alerts.yml"))
    if for_s is not None:
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    rule["for"] = duration(for_s)
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def render_prometheus_config(
    out: Path,
    serving_url: str,
    rules: Path,
    scrape_interval_s: float,
    gates_url: str | None = None,
    source: Path | None = None,
) -> Path:
    """The run's prometheus.yml: scrape the serving core (and the gate metrics) every
    `scrape_interval_s`, evaluate rules as often, load `rules` by absolute path."""
    data = _load(source or stack_file("prometheus.yml"))
    interval = duration(scrape_interval_s)
    data["global"] = dict(
        data.get("global") or {},
        scrape_interval=interval,
        evaluation_interval=interval,
        scrape_timeout=interval,
    )
    data["rule_files"] = [str(rules.resolve())]
    jobs = [job for job in data.get("scrape_configs", []) if job.get("job_name") == SERVING_JOB]
    if not jobs:
        raise ConfigError(f"stack/prometheus.yml has no scrape job {SERVING_JOB!r}")
    serving = dict(jobs[0], static_configs=[{"targets": [target_of(serving_url)]}])
    scrape = [serving]
    if gates_url is not None:
        scrape.append(
            {
                "job_name": GATES_JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [target_of(gates_url)]}],
            }
        )
    data["scrape_configs"] = scrape
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out
