"""The cluster manifests: valid YAML, the fields Ray and KubeRay require, and what they
run exists here: the Serve import path, the job modules and the arguments they are given.

No Kubernetes or KubeRay CRD schema is at hand offline, so KubeRay's required fields are
checked by name (ray.io/v1: RayService, RayJob; batch/v1: CronJob). The launcher config is
checked against the schema Ray itself ships (`ray/autoscaler/ray-schema.json`).
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from croniter import croniter

from configs.sections import ServeConfig
from configs.settings import PACKAGE_CONFIG_DIR, load_settings

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
K8S = CLUSTER / "k8s"
MANIFESTS = sorted([CLUSTER / "launcher.yaml", *K8S.glob("*.yaml")])
SECRET_ENV = ("STOCKRAY_DATABASE_URL", "STOCKRAY_REDIS_URL")


def _load(path: Path) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert len(docs) == 1, f"{path.name}: one document expected"
    return docs[0]


def _kube(name: str, kind: str, api_version: str) -> dict[str, Any]:
    doc = _load(K8S / name)
    assert (doc["apiVersion"], doc["kind"]) == (api_version, kind)
    assert doc["metadata"].get("name") or doc["metadata"].get("generateName")
    return doc


def _entrypoint(command: str) -> tuple[str, list[str]]:
    """`python -m jobs.X args…` → ("jobs.X", args), checking the module exists."""
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"], command
    module = importlib.import_module(words[2])
    assert words[2].startswith("jobs.") and hasattr(module, "main"), words[2]
    return words[2], words[3:]


def _parse(module_name: str, argv: list[str]) -> Any:
    """The job's own argument parser accepts `argv` (argparse exits 2 otherwise)."""
    return importlib.import_module(module_name).parse_args(argv)


def _containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    containers = pod_template["spec"]["containers"]
    assert containers, "a pod template needs containers"
    for container in containers:
        assert container.get("name") and container.get("image"), container
    return containers


def _check_ray_cluster(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A RayClusterSpec as KubeRay requires it, with token auth and our Secrets; returns
    every Ray container."""
    assert spec["rayVersion"] == ray.__version__
    assert spec["authOptions"]["mode"] == "token" and spec["authOptions"]["secretName"]
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())  # KubeRay: strings
    containers = _containers(head["template"])
    assert spec["workerGroupSpecs"]
    for group in spec["workerGroupSpecs"]:
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", group["groupName"])
        assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
        assert isinstance(group["rayStartParams"], dict)
        containers += _containers(group["template"])
    for container in containers:
        env = {e["name"]: e for e in container.get("env", [])}
        for name in SECRET_ENV:
            assert "secretKeyRef" in env[name]["valueFrom"], f"{name} must come from a Secret"
            assert "value" not in env[name]
        assert env["STOCKRAY_HOME"]["value"] == "/data"
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data"}
    return containers


def _images(containers: list[dict[str, Any]]) -> set[str]:
    return {c["image"] for c in containers}


def _application_deployments(app: Any) -> set[str]:
    """Names of the deployments an Application binds, its ingress and what it composes."""
    names, stack = set(), [app]
    while stack:
        bound = stack.pop()._bound_deployment
        names.add(bound.name)
        args = [*bound.init_args, *bound.init_kwargs.values()]
        stack += [a for a in args if isinstance(a, ray.serve.Application)]
    return names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_one_yaml_mapping(path: Path) -> None:
    assert isinstance(_load(path), dict)


def test_launcher_matches_rays_schema_and_keeps_the_dashboard_on_loopback() -> None:
    config = _load(CLUSTER / "launcher.yaml")
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    assert config["head_node_type"] in config["available_node_types"]
    assert config["provider"]["type"] and config["cluster_name"]
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    for command in (head, workers):
        assert "RAY_AUTH_MODE=token" in command and ". ~/stockray.env" in command
        assert "STOCKRAY_CONFIG_DIR=$HOME/stockray-configs" in command
    assert "--head" in head and "--dashboard-host=127.0.0.1" in head
    assert "--address=$RAY_HEAD_IP:6379" in workers
    assert any("pip install ~/stockray" in c for c in config["setup_commands"])
    mounts = config["file_mounts"]
    assert mounts["~/stockray-configs"] == "./configs" and mounts["~/stockray"] == "."
    assert "stockray.env" in config["rsync_exclude"]  # the secrets go by their own mount


def test_rayservice_serves_configs_serve_yaml_with_autoscaling() -> None:
    doc = _kube("rayservice.yaml", "RayService", "ray.io/v1")
    serve = ServeConfig.model_validate(yaml.safe_load(doc["spec"]["serveConfigV2"]))
    local = ServeConfig.model_validate(
        yaml.safe_load((PACKAGE_CONFIG_DIR / "serve.yaml").read_text())
    )
    assert serve.applications == local.applications, (
        "serveConfigV2 differs from configs/serve.yaml: run python cluster/k8s/sync_serve_config.py"
    )
    assert serve.http_options.host == "0.0.0.0"  # KubeRay's serve Service reaches the pods
    cluster = doc["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    containers = _check_ray_cluster(cluster)
    assert len(_images(containers)) == 1
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in head["ports"]}
    assert ports["serve"] == serve.http_options.port and ports["dashboard"] == 8265
    for deployment in (d for app in serve.applications for d in app.model_extra["deployments"]):
        scaling = deployment["autoscaling_config"]
        assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"]


def test_rayservice_import_paths_name_serve_applications() -> None:
    doc = _kube("rayservice.yaml", "RayService", "ray.io/v1")
    serve = ServeConfig.model_validate(yaml.safe_load(doc["spec"]["serveConfigV2"]))
    for app in serve.applications:
        module_name, attr = app.import_path.split(":")
        target = getattr(importlib.import_module(module_name), attr)
        assert isinstance(target, ray.serve.Application), app.import_path
        configured = {d["name"] for d in app.model_extra["deployments"]}
        assert configured <= _application_deployments(target), app.import_path


def test_sync_script_finds_the_rayservice_current() -> None:
    sys.path.insert(0, str(K8S))
    try:
        sync = importlib.import_module("sync_serve_config")
    finally:
        sys.path.remove(str(K8S))
    assert sync.main(["--check"]) == 0


def test_rayjob_backfill_runs_our_entrypoint_on_a_throwaway_cluster() -> None:
    doc = _kube("rayjob-backfill.yaml", "RayJob", "ray.io/v1")
    spec = doc["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] >= 0
    ray.runtime_env.RuntimeEnv(**yaml.safe_load(spec["runtimeEnvYAML"]))  # valid fields
    module_name, argv = _entrypoint(spec["entrypoint"])
    assert module_name == "jobs.backfill"
    args = _parse(module_name, argv)
    backfill = importlib.import_module(module_name)
    settings = load_settings(config_dir=PACKAGE_CONFIG_DIR)
    enabled = set(settings.providers.providers)  # the keys are the cluster's business
    checked = backfill.validate(settings, args, datetime.now(UTC), enabled)
    assert checked["instruments"]  # tickers and groups resolve against configs/
    _check_ray_cluster(spec["rayClusterSpec"])


def test_cronjob_submits_collect_to_the_rayservice_with_a_token() -> None:
    doc = _kube("cronjob-collect.yaml", "CronJob", "batch/v1")
    service = _kube("rayservice.yaml", "RayService", "ray.io/v1")
    assert croniter.is_valid(doc["spec"]["schedule"])
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    (container,) = _containers(pod)
    ray_containers = _check_ray_cluster(service["spec"]["rayClusterConfig"])
    assert _images([container]) == _images(ray_containers)
    command = " ".join([*container.get("command", []), *container.get("args", [])])
    submit, _, entrypoint = command.partition(" -- ")
    words = shlex.split(submit.split("-c", 1)[1])
    assert words[:3] == ["ray", "job", "submit"]
    address = words[words.index("--address") + 1]
    assert address == f"http://{service['metadata']['name']}-head-svc:8265"
    assert "--submission-id" in words  # one Ray job per slot: a duplicate is refused
    module_name, argv = _entrypoint(entrypoint)
    assert module_name == "jobs.collect"
    args = _parse(module_name, argv)
    jobs_common = importlib.import_module("jobs.common")
    settings = load_settings(config_dir=PACKAGE_CONFIG_DIR)
    assert jobs_common.instruments_arg(settings, args.tickers)
    env = {e["name"]: e for e in container["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    token = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    auth = service["spec"]["rayClusterConfig"]["authOptions"]
    assert (token["name"], token["key"]) == (auth["secretName"], "auth_token")


def test_dockerfile_builds_on_the_installed_ray() -> None:
    text = (ROOT / "Dockerfile").read_text()
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert re.search(rf"^FROM rayproject/ray:{re.escape(ray.__version__)}-{py}$", text, re.M)
    assert re.search(r"pip install --no-cache-dir \.", text)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {"var/", ".git/", ".env"} <= set(ignored)
