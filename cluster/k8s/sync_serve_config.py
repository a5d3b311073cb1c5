"""Copy `configs/serve.yaml` into `rayservice.yaml`'s `serveConfigV2`, so both stay one config.

    python cluster/k8s/sync_serve_config.py          # rewrite the block
    python cluster/k8s/sync_serve_config.py --check  # exit 1 if it is stale (CI)

On Kubernetes the proxy must listen on the pod's interfaces (0.0.0.0), on every node, for
KubeRay's serve Service to reach it; the applications are taken unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVE_YAML = ROOT / "configs" / "serve.yaml"
RAYSERVICE_YAML = Path(__file__).resolve().parent / "rayservice.yaml"
KEY = "  serveConfigV2: |\n"
K8S_HTTP = {"proxy_location": "EveryNode", "http_options": {"host": "0.0.0.0", "port": 8000}}


def serve_config_v2(serve_yaml: Path = SERVE_YAML) -> dict[str, Any]:
    """The RayService's Serve config: serve.yaml's applications, Kubernetes' HTTP options."""
    config = yaml.safe_load(serve_yaml.read_text(encoding="utf-8"))
    return {**K8S_HTTP, "applications": config["applications"]}


def render(manifest: str, config: dict[str, Any]) -> str:
    """`manifest` with its serveConfigV2 block replaced by `config`."""
    head, found, rest = manifest.partition(KEY)
    if not found:
        raise ValueError(f"{RAYSERVICE_YAML.name} has no top-level `serveConfigV2: |` block")
    lines = rest.splitlines(keepends=True)
    end = next((i for i, line in enumerate(lines) if line.strip() and line[:4] != "    "), None)
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=88)
    block = "".join(f"    {line}\n" for line in body.splitlines())
    return head + KEY + block + "".join(lines[end:] if end is not None else [])


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, verify) the RayService's Serve config."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is stale")
    args = parser.parse_args(argv)
    current = RAYSERVICE_YAML.read_text(encoding="utf-8")
    wanted = render(current, serve_config_v2())
    if args.check:
        if wanted != current:
            print(f"{RAYSERVICE_YAML}: serveConfigV2 differs from {SERVE_YAML}", file=sys.stderr)
            return 1
        return 0
    RAYSERVICE_YAML.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
