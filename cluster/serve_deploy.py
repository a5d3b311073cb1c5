"""Deploying the Serve app through the dashboard's REST API (what `serve deploy` does)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from cluster.ray_head import auth_headers
from cluster.state import StackError
from configs.settings import Settings

APPS_PATH = "/api/serve/applications/"


def serve_config(settings: Settings, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """`serve.yaml` as Ray takes it, on the configured host/port, with `env_vars` if given."""
    config = settings.serve.to_ray(settings.http_host, settings.http_port)
    if env_vars:
        for app in config["applications"]:
            runtime_env = app.setdefault("runtime_env", {})
            runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **env_vars}
    return config


def deploy(dashboard_url: str, config: dict[str, Any]) -> None:
    """Submit the config; Serve then starts or updates the applications declaratively."""
    try:
        resp = httpx.put(dashboard_url + APPS_PATH, json=config, headers=auth_headers(), timeout=60)
    except httpx.HTTPError as exc:
        raise StackError(f"Serve deploy to {dashboard_url} failed: {exc}") from None
    if resp.status_code != 200:
        raise StackError(f"Serve deploy rejected ({resp.status_code}): {resp.text[:300]}")


def applications(dashboard_url: str) -> dict[str, Any]:
    """Serve's view of its applications by name (empty when Serve is not running)."""
    try:
        resp = httpx.get(dashboard_url + APPS_PATH, headers=auth_headers(), timeout=10)
        resp.raise_for_status()
    except httpx.HTTPError:
        return {}
    return resp.json().get("applications") or {}


def undeploy(dashboard_url: str, app_names: list[str]) -> None:
    """Remove these applications and leave any others running."""
    apps = applications(dashboard_url)
    remaining = [
        a["deployed_app_config"]
        for name, a in apps.items()
        if name not in app_names and a.get("deployed_app_config")
    ]
    if remaining:
        try:
            resp = httpx.get(dashboard_url + APPS_PATH, headers=auth_headers(), timeout=10)
            config = {**resp.json().get("http_options", {})}
        except (httpx.HTTPError, ValueError):
            config = {}
        deploy(dashboard_url, {"http_options": config, "applications": remaining})
    elif apps:
        httpx.delete(dashboard_url + APPS_PATH, headers=auth_headers(), timeout=60)


def wait_ready(api_url: str, timeout_s: float) -> float:
    """Poll `/readyz` until 200; return seconds waited or raise with the last answer."""
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout_s:
        try:
            resp = httpx.get(f"{api_url}/readyz", timeout=5)
            if resp.status_code == 200:
                return time.monotonic() - start
            last = f"{resp.status_code} {resp.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise StackError(f"{api_url}/readyz not ready after {timeout_s:.0f}s (last: {last})")
