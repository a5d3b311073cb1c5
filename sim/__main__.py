"""`python -m sim`: run the simulator until SIGTERM/SIGINT.

    python -m sim --seed 7 --watchlist configs/watchlist.yaml --extra-symbols 300 \\
        --ports yahoo=18001,alphavantage=18002,newsapi=18003,dart=18004,llm=18005 \\
        --admin-port 18000 \\
        --faults faults.json --scenarios '{"yahoo": {"live_row": true}}' \\
        --limits realistic   # providers.yaml's rate-limit windows; --faults keys win

Prints one JSON line once every listener accepts connections:
{"urls": {"yahoo": "http://127.0.0.1:18001", ...}, "admin_url": "...", "seed": 7, "pid": N}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from sim.faults import FaultConfig, load_fault_map, read_fault_json
from sim.limits import PRESETS, PROVIDERS_YAML, merged, preset
from sim.runtime import SimRuntime
from sim.scenarios import Scenarios, load_scenario_map
from sim.world import SimWorld


def parse_ports(text: str | None) -> dict[str, int]:
    """Parse `yahoo=18001,dart=18004` into {"yahoo": 18001, "dart": 18004}."""
    ports: dict[str, int] = {}
    for item in filter(None, (text or "").split(",")):
        name, _, port = item.partition("=")
        ports[name.strip()] = int(port)
    return ports


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--watchlist", help="watchlist YAML (default: the built-in five)")
    parser.add_argument("--extra-symbols", type=int, default=0, help="add SIM0001..SIMnnnn")
    parser.add_argument("--ports", help="provider=port,... (default: free ports)")
    parser.add_argument("--admin-port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--faults", help="fault JSON: a file path or an inline JSON object")
    parser.add_argument(
        "--limits",
        choices=PRESETS,
        default="off",
        help="rate-limit preset: realistic = every window of --providers-yaml's limits",
    )
    parser.add_argument(
        "--providers-yaml", default=str(PROVIDERS_YAML), help="where --limits reads the windows"
    )
    parser.add_argument(
        "--scenarios", help="scenario JSON ({provider: {name: true}}): a file path or inline"
    )
    return parser.parse_args(argv)


async def serve(
    world: SimWorld,
    faults: dict[str, FaultConfig],
    ports: dict[str, int],
    host: str,
    scenarios: dict[str, Scenarios] | None = None,
) -> None:
    """Run the sim until SIGTERM or SIGINT, printing the ready line first."""
    runtime = SimRuntime(world, faults, ports, host, scenarios)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    ready = {
        "urls": runtime.urls,
        "admin_url": runtime.admin.url,
        "seed": world.seed,
        "pid": os.getpid(),
    }
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit code."""
    args = _args(argv)
    try:
        limits = preset(args.limits, args.providers_yaml)
        faults = load_fault_map(merged(limits, read_fault_json(args.faults)))
        scenarios = load_scenario_map(args.scenarios)
        ports = parse_ports(args.ports)
    except (ValueError, OSError) as exc:
        print(f"sim: {exc}", file=sys.stderr)
        return 2
    if args.admin_port:
        ports["admin"] = args.admin_port
    try:
        world = SimWorld.build(args.seed, args.watchlist, args.extra_symbols)
        asyncio.run(serve(world, faults, ports, args.host, scenarios))
    except (ValueError, OSError) as exc:  # unknown provider, port taken, unreadable watchlist
        print(f"sim: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
