"""Rate-limit presets: the real services' windows as `rate_limit` fault configurations.

`realistic` = every window of `configs/providers.yaml`'s `limits` (Yahoo 5/s and 2,000/h,
NewsAPI 100/day, Alpha Vantage 1 per 1.2 s and 25/day, DART 10/s and 20,000/day), as
sliding windows answered in each provider's own format. The sim reads the YAML itself (it
imports nothing from the rest of stockray); `stockray up` passes the validated
`settings.providers` through `windows_faults` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from sim.providers import PROVIDERS

PRESETS = ("off", "realistic")
PROVIDERS_YAML = Path(__file__).resolve().parent.parent / "configs" / "providers.yaml"
_SHORT_S = 60.0  # Alpha Vantage answers windows shorter than this with its burst text


def windows_faults(limits: Mapping[str, Iterable[tuple[int, float]]]) -> dict[str, dict]:
    """{provider: {"rate_limit": [windows]}} from {provider: [(requests, per_s), ...]};
    providers the sim does not serve, and ones without windows, are left out."""
    out: dict[str, dict] = {}
    for name, pairs in limits.items():
        windows = [{"limit": int(requests), "window_s": float(per_s)} for requests, per_s in pairs]
        if name == "alphavantage":  # its per-second refusal reads differently from its daily one
            for window in windows:
                window["variant"] = "burst" if window["window_s"] < _SHORT_S else "information"
        if name in PROVIDERS and windows:
            out[name] = {"rate_limit": windows}
    return out


def realistic(providers_yaml: str | Path = PROVIDERS_YAML) -> dict[str, dict]:
    """The `realistic` preset from a providers.yaml (`providers.<name>.limits`)."""
    data = yaml.safe_load(Path(providers_yaml).read_text(encoding="utf-8")) or {}
    providers = data.get("providers") or {}
    if not isinstance(providers, Mapping):
        raise ValueError(f"{providers_yaml}: `providers` must be a mapping")
    return windows_faults(
        {
            str(name): [(lim["requests"], lim["per_s"]) for lim in (cfg or {}).get("limits") or []]
            for name, cfg in providers.items()
        }
    )


def preset(name: str, providers_yaml: str | Path = PROVIDERS_YAML) -> dict[str, dict]:
    """The fault configurations of preset `name` (`off`: none)."""
    if name not in PRESETS:
        raise ValueError(f"unknown limits preset {name!r} (known: {', '.join(PRESETS)})")
    return realistic(providers_yaml) if name == "realistic" else {}


def merged(base: Mapping[str, Mapping], override: Mapping[str, Mapping]) -> dict[str, dict]:
    """`base`'s fault objects with `override`'s keys on top, provider by provider."""
    out = {name: dict(cfg) for name, cfg in base.items()}
    for name, cfg in override.items():
        out[name] = {**out.get(name, {}), **(cfg or {})}
    return out
