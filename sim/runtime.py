"""Everything that lives on the sim's event loop: one listener per provider plus the admin
listener, each provider's fault state, and the timers that open and close outage windows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from sim.faults import FaultConfig, FaultState, Outage
from sim.listeners import Listener
from sim.middleware import FaultMiddleware
from sim.providers import PROVIDERS
from sim.scenarios import Scenarios
from sim.stats import ProviderStats
from sim.world import SimWorld


class SimRuntime:
    """The running sim: start/stop listeners, set faults, read counters (on its own loop)."""

    def __init__(
        self,
        world: SimWorld,
        faults: Mapping[str, FaultConfig] | None = None,
        ports: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        scenarios: Mapping[str, Scenarios] | None = None,
    ) -> None:
        from sim.admin import build_admin  # admin routes call back into this runtime

        ports = dict(ports or {})
        unknown = (set(ports) - {"admin"} | set(faults or {}) | set(scenarios or {})) - set(
            PROVIDERS
        )
        if unknown:
            raise ValueError(f"unknown providers: {sorted(unknown)}")
        self.world = world
        self.states = {name: FaultState(name, world.seed) for name in PROVIDERS}
        for name, chosen in (scenarios or {}).items():
            self.states[name].scenarios.configure(chosen)
        self.apps = {
            name: FaultMiddleware(spec.build(world, self.states[name]), spec, self.states[name])
            for name, spec in PROVIDERS.items()
        }
        self.listeners = {
            name: Listener(name, app, host, ports.get(name, 0)) for name, app in self.apps.items()
        }
        self.admin = Listener("admin", build_admin(self), host, ports.get("admin", 0))
        self._initial = dict(faults or {})
        self._timers: dict[str, asyncio.Task] = {}

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per provider."""
        return {name: listener.url for name, listener in self.listeners.items()}

    async def start(self) -> None:
        """Load the exchange calendars, open every listener, then install the initial faults."""
        await asyncio.to_thread(self.world.load_sessions)  # seconds each: not on first request
        for listener in (*self.listeners.values(), self.admin):
            await listener.open()
        for name, config in self._initial.items():
            await self.set_faults(name, config)

    async def stop(self) -> None:
        """Cancel outage timers and close every listener."""
        for task in self._timers.values():
            task.cancel()
        for app in self.apps.values():
            app.release()
        for listener in (*self.listeners.values(), self.admin):
            listener.close()
        for listener in (*self.listeners.values(), self.admin):
            await listener.wait_closed()

    async def set_faults(self, name: str, config: FaultConfig) -> None:
        """Replace `name`'s faults; outage windows are timed from now."""
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        self.states[name].configure(config)
        await self.listeners[name].open()  # a "refuse" outage in progress ends with its config
        outages = sorted(config.outages, key=lambda o: o.start_s)
        if outages and outages[0].start_s <= 0:
            self._begin(name, outages[0])  # before answering: the caller's next request sees it
        if outages:
            self._timers[name] = asyncio.create_task(self._run_outages(name, outages))

    async def clear_faults(self, name: str | None = None) -> None:
        """No faults for `name` (every provider when None)."""
        for provider in [name] if name else list(self.states):
            await self.set_faults(provider, FaultConfig())

    def set_scenarios(self, name: str, scenarios: Scenarios) -> None:
        """Replace `name`'s scenarios (quota counters start again)."""
        self.states[name].scenarios.configure(scenarios)

    def clear_scenarios(self, name: str | None = None) -> None:
        """No scenarios for `name` (every provider when None)."""
        for provider in [name] if name else list(self.states):
            self.set_scenarios(provider, Scenarios.from_dict(provider, {}))

    def stats(self) -> dict[str, dict]:
        """Counters per provider, with whether it listens and which outage is active."""
        out = {}
        for name, state in self.states.items():
            outage = state.outage
            out[name] = {
                **state.stats.as_dict(),
                "listening": self.listeners[name].listening,
                "outage": outage.mode if outage else None,
            }
        return out

    def reset_stats(self) -> None:
        """Zero every counter."""
        for state in self.states.values():
            state.stats = ProviderStats()

    async def _run_outages(self, name: str, outages: list[Outage]) -> None:
        """Open and close the windows in order (the first is already open if it starts at 0)."""
        loop = asyncio.get_running_loop()
        origin = loop.time()
        for outage in outages:
            if outage.start_s > 0 or self.states[name].outage is not outage:
                await asyncio.sleep(max(0.0, origin + outage.start_s - loop.time()))
                self._begin(name, outage)
            if outage.duration_s is None:
                return  # until the faults are cleared or replaced
            await asyncio.sleep(max(0.0, origin + outage.start_s + outage.duration_s - loop.time()))
            await self._end(name)

    def _begin(self, name: str, outage: Outage) -> None:
        state = self.states[name]
        state.outage = outage
        if outage.mode == "refuse":
            state.stats.refusals += 1
            self.apps[name].release()
            self.listeners[name].close()

    async def _end(self, name: str) -> None:
        self.states[name].outage = None
        await self.listeners[name].open()
