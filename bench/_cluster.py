"""A throwaway stockray cluster for benchmarks: sim, config dir and a Ray head on free ports."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cluster import ray_head
from configs.settings import PACKAGE_CONFIG_DIR, load_settings


def config_dir(root: Path, overrides: Mapping[str, Mapping[str, Any]]) -> Path:
    """A copy of the shipped configs with whole files replaced by `overrides` (name → data)."""
    target = root / "configs"
    target.mkdir()
    for path in PACKAGE_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    for name, data in overrides.items():
        (target / f"{name}.yaml").write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return target


@dataclass(frozen=True)
class BenchCluster:
    """The benchmark's Ray head: its GCS address and the config dir its workers read."""

    gcs_address: str
    config_dir: Path


@contextmanager
def ray_cluster(
    env: Mapping[str, str], overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> Iterator[BenchCluster]:
    """Start a Ray head whose workers see `env` (plus the config dir), connected to it."""
    import ray

    root = Path(tempfile.mkdtemp(prefix="srb", dir="/tmp"))  # short: unix socket paths
    configs = config_dir(root, overrides or {})
    settings = load_settings(**ray_head.isolated(root), config_dir=configs)
    head_env = {**env, "STOCKRAY_CONFIG_DIR": str(configs), "STOCKRAY_HOME": str(settings.home)}
    state = ray_head.start_head(settings, head_env, root / "ray-start.log")
    try:
        ray.init(address=state.gcs_address, namespace="stockray", log_to_driver=False)
        yield BenchCluster(state.gcs_address, configs)
    finally:
        ray.shutdown()
        ray_head.stop_head(state)
        shutil.rmtree(root, ignore_errors=True)
