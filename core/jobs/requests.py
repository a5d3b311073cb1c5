"""One typed request per job, and the one way to turn it into `python -m jobs.NAME ARGS`.

`to_entrypoint()` writes the command (quoted once, by `shlex.join`); `from_argv()` is the
job's own argument parsing, so the scheduler, the API, the CLI, collect→analyze and the
job read and write the same flags. A request names only what was given: fields left at
their default stay off the command line, as a person typing it would leave them.

Checks come in two steps. `from_argv` refuses what is wrong on its face (an unknown
capability, a date that is not one, a window like `soon`). `problems()` checks a request
against the watchlist, the providers and today; the job exits 2 with the first problem,
the CLI the same before submitting, and the API answers 422 listing them all: one piece of
code and one set of messages.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from core.jobs.args import (
    Problem,
    SettingsLike,
    Ticker,
    UsageError,
    capabilities_arg,
    csv_arg,
    day_arg,
    resolve_tickers,
    window_arg,
    window_span,
    word,
)
from core.models import DEFAULT_CAPABILITIES, Capability


class JobRequest(BaseModel):
    """What every job takes; a subclass per job names its flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    JOB: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    trace_id: str | None = None

    @property
    def module(self) -> str:
        """The job's module, `jobs.NAME`."""
        return f"jobs.{self.JOB}"

    def argv(self) -> list[str]:
        """The job's arguments: each field given (not None, not False) in field order, the
        trace id last."""
        names = [n for n in type(self).model_fields if n != "trace_id"] + ["trace_id"]
        out: list[str] = []
        for name in names:
            value = getattr(self, name)
            if name not in self.model_fields_set or value is None or value is False:
                continue
            flag = "--" + name.replace("_", "-")
            text = word(value)
            if value is True:
                out.append(flag)
            elif text.startswith("-"):  # `--flag -x` would read as two options
                out.append(f"{flag}={text}")
            else:
                out += [flag, text]
        return out

    def to_entrypoint(self) -> str:
        """The Ray Job's entrypoint: `python -m jobs.NAME ARGS`, quoted once."""
        return shlex.join(["python", "-m", self.module, *self.argv()])

    def traced(self, trace_id: str) -> Self:
        """This request with a trace id, unless it names one already."""
        return self if self.trace_id else self.model_copy(update={"trace_id": trace_id})

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """The job's argument parser (options not given stay unset)."""
        parser = argparse.ArgumentParser(
            prog=f"python -m jobs.{cls.JOB}",
            description=cls.DESCRIPTION,
            argument_default=argparse.SUPPRESS,
        )
        cls._arguments(parser)
        parser.add_argument("--trace-id", help="trace id to record (default: a new one)")
        return parser

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> Self:
        """The request a command line makes: argparse exits 2 itself on a malformed one
        (printing the usage); a bad value raises UsageError."""
        parser = cls.parser()
        given = vars(parser.parse_args(list(argv)))
        cls._refuse(parser, given)
        return cls.build(**cls._convert(given))

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """The request from typed fields; UsageError (the flag's message) if one is bad."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise UsageError(_message(exc)) from None

    def problems(
        self, settings: SettingsLike, now: datetime, enabled: set[str] | None = None
    ) -> list[Problem]:
        """What is wrong with this request given the watchlist, the providers `enabled`
        (default: every configured one) and `now`; empty when it can run."""
        return _ticker_problems(settings, getattr(self, "tickers", None))

    def check(self, settings: SettingsLike, now: datetime, enabled: set[str] | None = None) -> None:
        """Raise UsageError with the first of `problems()`."""
        found = self.problems(settings, now, enabled)
        if found:
            raise UsageError(found[0].message)

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError

    @classmethod
    def _refuse(cls, parser: argparse.ArgumentParser, given: dict[str, Any]) -> None:
        """argparse-style errors (usage and exit 2) for numbers out of range."""

    @classmethod
    def _convert(cls, given: dict[str, Any]) -> dict[str, Any]:
        """The parsed strings as field values; UsageError for a bad one."""
        out = dict(given)
        if "tickers" in out:
            out["tickers"] = csv_arg(out["tickers"])
        if "capabilities" in out:
            out["capabilities"] = capabilities_arg(out["capabilities"])
        return out


def _ticker_problems(settings: SettingsLike, tickers: Sequence[str] | None) -> list[Problem]:
    try:
        resolve_tickers(settings.watchlist, tickers)
    except UsageError as exc:
        return [Problem("tickers", str(exc))]
    return []


def _message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    error = (first.get("ctx") or {}).get("error")
    if isinstance(error, UsageError):
        return str(error)
    flag = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "arguments"
    return f"{flag}: {first['msg']}"


_TICKERS_HELP = "comma-separated ids or watchlist groups (default: all)"


class CollectRequest(JobRequest):
    """`jobs.collect`: new data since each watermark, planned to fit the providers' limits."""

    JOB: ClassVar[str] = "collect"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.collect`: fetch each instrument's new data since its watermark and "
        "store it."
    )

    tickers: list[Ticker] | None = None
    capabilities: Annotated[list[Capability], Field(min_length=1)] = list(DEFAULT_CAPABILITIES)
    interval: str = "1d"
    cycle_s: Annotated[float, Field(gt=0)] | None = None
    plan_only: bool = False
    no_analyze: bool = False

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tickers", help=_TICKERS_HELP)
        parser.add_argument("--capabilities")
        parser.add_argument("--interval", help="bar interval for prices")
        parser.add_argument(
            "--cycle-s",
            type=float,
            help="the schedule's interval: the cycle must fit in it and may use its share of "
            "the daily quotas (default: a one-off run that may use all that is left)",
        )
        parser.add_argument(
            "--plan-only", action="store_true", help="print the plan and exit without collecting"
        )
        parser.add_argument(
            "--no-analyze", action="store_true", help="do not start jobs.analyze for new articles"
        )

    @classmethod
    def _refuse(cls, parser: argparse.ArgumentParser, given: dict[str, Any]) -> None:
        if "cycle_s" in given and not given["cycle_s"] > 0:
            parser.error("--cycle-s: give a number of seconds > 0")


class AnalyzeRequest(JobRequest):
    """`jobs.analyze`: analyse the window's new articles and publish a report each."""

    JOB: ClassVar[str] = "analyze"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.analyze`: analyse new articles and publish a report per instrument."
    )

    tickers: list[Ticker] | None = None
    window: Annotated[str, AfterValidator(window_arg)] = "24h"

    @property
    def span(self) -> timedelta:
        """How far back the window reaches."""
        return window_span(self.window)

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tickers", help=_TICKERS_HELP)
        parser.add_argument("--window", help="how far back: 24h, 7d, 90m, ...")


class Backfill(BaseModel):
    """A backfill asked for: instruments (ids or groups) x capabilities x days (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tickers: Annotated[list[Ticker], Field(min_length=1)]
    start: date
    end: date
    interval: str = "1d"
    capabilities: Annotated[list[Capability], Field(min_length=1)] = [Capability.PRICES]

    def period(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) in UTC: from the first day's midnight to the day after the last, or
        to `now` if that comes first."""
        start = datetime.combine(self.start, datetime.min.time(), UTC)
        if self.end >= now.date():
            return start, now
        return start, datetime.combine(self.end + timedelta(days=1), datetime.min.time(), UTC)

    def problems(
        self, settings: SettingsLike, now: datetime, enabled: set[str] | None = None
    ) -> list[Problem]:
        """Unknown tickers, days out of order or ahead, capabilities no enabled provider
        serves (at this interval, this far back); `enabled` defaults to every configured
        provider (the API's and the CLI's view: the job checks those the router enables)."""
        found = _ticker_problems(settings, self.tickers)
        enabled = set(settings.providers.providers) if enabled is None else enabled
        start, end = self.period(now)
        days_ok = False
        if self.start > self.end:
            found.append(Problem("start", f"--start {self.start} is after --end {self.end}"))
        elif start >= end:
            found.append(Problem("start", f"--start {self.start} is in the future"))
        else:
            days_ok = True
        for capability in self.capabilities:
            found += self._served(settings, capability, enabled, now - start if days_ok else None)
        return found

    def _served(
        self,
        settings: SettingsLike,
        capability: Capability,
        enabled: set[str],
        back: timedelta | None,
    ) -> list[Problem]:
        from core.providers import CLIENTS  # here: checking needs no HTTP stack until now

        names = settings.providers.capabilities.get(capability, [])
        providers = [n for n in names if n in enabled and n in CLIENTS]
        if not providers:
            message = f"--capabilities: no enabled provider serves {capability.value}"
            return [Problem("capabilities", message)]
        interval = self.interval if capability is Capability.PRICES else None
        if interval is not None:
            serving = [p for p in providers if interval in CLIENTS[p].INTERVALS]
            if not serving:
                offered = sorted({i for p in providers for i in CLIENTS[p].INTERVALS})
                return [
                    Problem(
                        "interval",
                        f"--interval {interval!r} is not served by any price provider "
                        f"(served: {', '.join(offered)})",
                    )
                ]
            providers = serving
        reach = [CLIENTS[p].max_history(interval or "1d") for p in providers]
        if back is not None and all(r is not None for r in reach) and back > max(reach):
            at = f" at interval {interval}" if interval else ""
            return [
                Problem(
                    "start",
                    f"--start {self.start}: {capability.value} reach back only "
                    f"{max(reach).days} days{at} ({', '.join(providers)}); start later or drop "
                    f"{capability.value}",
                )
            ]
        return []


class BackfillRequest(Backfill, JobRequest):
    """`jobs.backfill`: the asked-for backfill, with how to chunk it and whether to refetch."""

    JOB: ClassVar[str] = "backfill"
    DESCRIPTION: ClassVar[str] = (
        "`python -m jobs.backfill`: fill history for instruments over a date range, resumably."
    )

    chunk_days: PositiveInt | None = None
    refetch: bool = False

    @classmethod
    def _arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tickers", required=True, help="comma-separated ids or groups")
        parser.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, help="last day (inclusive), YYYY-MM-DD")
        parser.add_argument("--interval", help="bar interval for prices")
        parser.add_argument("--capabilities")
        parser.add_argument(
            "--chunk-days", type=int, help="days per chunk (default per capability)"
        )
        parser.add_argument(
            "--refetch",
            action="store_true",
            help="fetch every chunk again, even those a previous run finished (rebuilds history)",
        )

    @classmethod
    def _refuse(cls, parser: argparse.ArgumentParser, given: dict[str, Any]) -> None:
        if "chunk_days" in given and given["chunk_days"] < 1:
            parser.error("--chunk-days: give a number of days > 0")

    @classmethod
    def _convert(cls, given: dict[str, Any]) -> dict[str, Any]:
        out = super()._convert(given)
        if not out["tickers"]:
            raise UsageError("--tickers: give at least one id or group")
        for name in ("start", "end"):
            out[name] = day_arg(out[name], f"--{name}")
        return out

    @classmethod
    def of(cls, backfill: Backfill, **job: Any) -> BackfillRequest:
        """The job's request for an asked-for backfill (e.g. an API body), every field set."""
        return cls(**{name: getattr(backfill, name) for name in Backfill.model_fields}, **job)


DATA_REQUESTS: tuple[type[JobRequest], ...] = (CollectRequest, BackfillRequest, AnalyzeRequest)
"""The jobs about instruments (the maintenance jobs are in `core.jobs.maintenance`)."""
