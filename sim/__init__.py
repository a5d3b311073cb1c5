"""sim: local stand-ins for stockray's data providers, speaking their real wire formats.

One `SimServer` runs one listener per provider (yahoo, alphavantage, newsapi, dart) plus an
admin listener, all on 127.0.0.1; clients use each provider's real paths against
`sim.urls[provider]`. Data is a pure function of (seed, symbol, date). Faults are set per
provider at start (`faults=`, `--faults`) or at run time (`PUT /_sim/faults/{provider}`):

    {"latency": {"base_ms": 20, "jitter_ms": 10, "dist": "uniform" | "lognormal", "sigma": 0.5},
     "error_rate": 0.1, "error_status": 500 | [500, 502, 503],
     "outages": [{"mode": "refuse" | "503", "start_s": 0, "duration_s": 5 | null}],
     "rate_limit": {"limit": 5, "window_s": 1, "window": "sliding" | "fixed",
                    "style": "provider" | "http429", "variant": "information" | "note" | "burst"}
                   | [window, ...],   # several windows at once, every one must admit
     "slow": {"rate": 1.0, "delay_s": 30},
     "malformed_rate": 0.05, "truncated_rate": 0.05,
     "max_results": 100}

Named scenarios (the real services' edges: Yahoo's live row, AV's premium and quota notes,
DART's 020/800, keys echoed in error bodies...) are switched per provider the same way
(`scenarios=`, `--scenarios`, `PUT /_sim/scenarios/{provider}`); splits can be injected at
run time (`POST /_sim/splits`). See sim/README.md, sim/faults.py and sim/scenarios.py.
Imports nothing from the rest of stockray.
"""
