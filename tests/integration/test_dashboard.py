"""The web dashboard in headless Chromium (Selenium + Debian's chromium-driver) on a stack.

One `stockray up` stack on the sim and one browser serve every test of this module; each
test leaves a screenshot in `test-artifacts/dashboard/`. Tests run in file order but each
gets what it needs itself (a key in the tab, bars in the database).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster.state import StackState
from core.wait import poll
from tests.integration.test_stack import ROOT, Stack

pytestmark = [pytest.mark.stack, pytest.mark.timeout(600)]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
WAIT_S = 30.0

# Publishes one event through the stack's event hub, as a job would.
PUBLISH = """
import json, sys, ray
from actors.events import events_handle
ray.init(address=sys.argv[1], namespace="stockray", log_to_driver=False)
print(ray.get(events_handle().publish.remote(sys.argv[2], json.loads(sys.argv[3]))))
"""


@dataclass
class Dashboard:
    """The stack, its keys and the browser looking at it."""

    stack: Stack
    driver: Any
    read_key: str
    admin_key: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.stack.api_port}/"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A REST call with the admin key."""
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return httpx.request(
            method, f"{self.url}api/v1{path}", headers=headers, timeout=60, **kwargs
        )

    def publish(self, kind: str, payload: dict[str, Any]) -> int:
        """Publish an event through the stack's hub; its id."""
        gcs = StackState.load(self.stack.home).ray.gcs_address
        done = subprocess.run(
            [sys.executable, "-c", PUBLISH, gcs, kind, json.dumps(payload)],
            env={**self.stack.env, "RAY_AUTH_MODE": "token"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return int(done.stdout.strip().splitlines()[-1])

    def open(self, route: str = "#/") -> None:
        """Navigate to a hash route (a full load, as a user following a link)."""
        self.driver.get(self.url + route)

    def sign_in(self, key: str) -> None:
        """Enter `key` on the key form (the tab keeps it in session storage)."""
        self.open()
        self.driver.execute_script("sessionStorage.clear(); localStorage.clear();")
        self.driver.refresh()
        field = self.find("#key-input")
        field.clear()
        field.send_keys(key)
        self.find("#key-form button[type=submit]").click()

    def find(self, css: str) -> Any:
        """The first element matching `css`, waiting for it."""
        return self.until(lambda: self.driver.find_elements("css selector", css), css)[0]

    def until(self, probe: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
        """`probe()`'s first truthy answer; fails with `what` and a screenshot after the wait."""

        def ask() -> Any:
            try:
                return probe()
            except Exception:  # a stale element while the page re-renders: ask again
                return None

        if found := poll(ask, timeout_s=timeout_s, interval_s=0.2):
            return found
        self.shot("timeout")
        raise AssertionError(f"timed out waiting for {what}")

    def text(self, css: str) -> str:
        return self.driver.execute_script(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
            css,
        )

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def console_errors(self) -> list[str]:
        """Severe browser console entries since the last call, but the 401/403s tests cause."""
        expected = ("401 (Unauthorized)", "403 (Forbidden)")
        entries = self.driver.get_log("browser")
        return [
            e["message"]
            for e in entries
            if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)
        ]


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise RuntimeError("chromium and chromium-driver are not installed (scripts/test.sh does)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1400", "--lang=en-US"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


@pytest.fixture(scope="module")
def dash() -> Iterator[Dashboard]:
    root = Path(tempfile.mkdtemp(prefix="srw", dir="/tmp"))  # short: unix socket paths
    stack = Stack(root)
    driver = None
    try:
        up = stack.run("up")
        assert up.returncode == 0, up.stdout + up.stderr
        keys = [
            stack.run("keys", "create", "--name", f"web-{scope}", "--scope", scope)
            for scope in ("read", "admin")
        ]
        assert all(k.returncode == 0 for k in keys), [k.stderr for k in keys]
        driver = _browser()
        driver.set_script_timeout(30)
        yield Dashboard(stack, driver, keys[0].stdout.strip(), keys[1].stdout.strip())
    finally:
        if driver is not None:
            driver.quit()
        stack.run("down")
        shutil.rmtree(root, ignore_errors=True)


def _ensure_bars(dash: Dashboard, ticker: str = "AAPL") -> None:
    """Daily bars for `ticker` over the last 120 days, by a backfill through the API."""
    start = (datetime.now(UTC) - timedelta(days=120)).isoformat()
    bars = dash.api("GET", f"/instruments/{ticker}/bars", params={"start": start}).json()
    if bars["bars"]:
        return
    today = datetime.now(UTC).date()
    body = {"tickers": [ticker], "start": str(today - timedelta(days=120)), "end": str(today)}
    job = dash.api("POST", "/jobs/backfill", json=body).json()["job_id"]
    dash.until(
        lambda: dash.api("GET", f"/jobs/{job}").json()["status"] == "SUCCEEDED",
        "the API backfill to succeed",
        120,
    )


def test_a_bad_key_shows_the_401_message(dash: Dashboard) -> None:
    dash.sign_in("sr_bad_notakey")
    banner = dash.find('#message[data-code="401"]')
    assert "401" in banner.text and "refused" in banner.text
    assert dash.find("#key-input").is_displayed()  # asked again for a key
    stored = dash.driver.execute_script("return sessionStorage.getItem('stockray.key')")
    assert stored is None
    dash.shot("login-401")


def test_ops_page_shows_providers_and_a_backfill_runs_to_done(dash: Dashboard) -> None:
    dash.sign_in(dash.admin_key)
    dash.find("table#watchlist")
    dash.open("#/ops")
    for provider in ("yahoo", "alphavantage", "newsapi", "dart"):
        dash.find(f'#providers tr[data-provider="{provider}"]')
    assert "closed" in dash.text("#providers")
    dash.find("#spend meter")

    for ticker in ("AAPL", "MSFT"):
        box = dash.find(f'#bf-tickers input[value="{ticker}"]')
        if not box.is_selected():
            box.click()
    dash.find("#bf-submit").click()
    dash.find("#bf-bar")
    statuses = set()

    def finished() -> bool:
        status = dash.driver.execute_script(
            "return document.getElementById('backfill-progress').dataset.status || null"
        )
        statuses.add(status)
        return status in ("SUCCEEDED", "FAILED", "STOPPED")

    dash.until(finished, "the backfill started from the page to finish", 150)
    detail = dash.text("#bf-detail")
    dash.shot("ops")
    assert dash.text("#bf-status").endswith("SUCCEEDED"), detail
    assert statuses & {"PENDING", "RUNNING"}  # progress was shown on the way
    assert "2 of 2 chunks" in detail and "Done" in detail
    value, top = dash.driver.execute_script(
        "const p = document.getElementById('bf-bar'); return [p.value, p.max];"
    )
    assert value == top > 0
    dash.until(lambda: "backfill" in dash.text("#jobs"), "the run in the job list")
    assert dash.console_errors() == []


def test_a_read_key_starting_a_backfill_shows_the_403_message(dash: Dashboard) -> None:
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    dash.open("#/ops")
    dash.find('#bf-tickers input[value="NVDA"]').click()
    dash.find("#bf-submit").click()
    banner = dash.find('#message[data-code="403"]')
    assert "403" in banner.text and "admin" in banner.text
    assert dash.find("#providers tr[data-provider='yahoo']")  # the page itself stays usable
    dash.shot("ops-403")


def test_watchlist_renders_and_a_live_bar_moves_a_price(dash: Dashboard) -> None:
    _ensure_bars(dash)
    dash.sign_in(dash.read_key)
    instruments = [i["id"] for i in dash.api("GET", "/instruments").json()["instruments"]]
    dash.find("table#watchlist")
    for instrument in instruments:
        dash.find(f'#watchlist tr[data-instrument="{instrument}"]')
    price = '#watchlist tr[data-instrument="AAPL"] td[data-field="price"]'
    before = dash.until(lambda: (t := dash.text(price)) != "—" and t, "AAPL's price")
    assert "$" in before
    dash.until(lambda: dash.text("#live-status") == "Live", "the live connection")
    dash.shot("watchlist")

    dash.driver.execute_script("window.__marker = 'no reload'")
    bar = {  # as jobs/collect.py sends it
        "instrument": "AAPL",
        "interval": "1d",
        "ts": datetime.now(UTC).isoformat(),
        "close": 4321.5,
        "previous_close": 4000.0,
    }
    dash.publish("bar", bar)
    after = dash.until(lambda: "4,321.50" in (t := dash.text(price)) and t, "the live price")
    assert after != before
    change = '#watchlist tr[data-instrument="AAPL"] td[data-field="change"]'
    assert "+8.04%" in dash.text(change)
    assert dash.driver.execute_script("return window.__marker") == "no reload"
    assert "flash" in dash.find(price).get_attribute("class")
    dash.shot("watchlist-live")
    assert dash.console_errors() == []


def test_instrument_page_draws_the_chart(dash: Dashboard) -> None:
    _ensure_bars(dash)
    dash.sign_in(dash.read_key)
    dash.find('#watchlist a[href="#/instrument/AAPL"]').click()
    bars = int(dash.until(lambda: _chart(dash, "bars"), "bars on the chart"))
    assert bars > 10
    assert dash.driver.find_elements("css selector", "#price-chart canvas")
    assert "Apple" in dash.text("h1")
    assert "O $" in dash.text("#chart-legend")  # the last bar's values, in dollars
    dash.find("#news li")
    dash.find("#report")
    dash.shot("instrument")

    candles = _pixels(dash)
    dash.find('input[name="kind"][value="line"] + span').click()
    dash.until(lambda: _chart(dash, "kind") == "line", "the line series")
    dash.until(lambda: _pixels(dash) != candles, "the chart redrawn as a line")
    assert int(_chart(dash, "bars")) == bars
    assert dash.find("#adjust").get_attribute("value") == "splits"  # the API's default
    dash.driver.execute_script("document.querySelector('#price-actions').dataset.actions = ''")
    dash.find('#adjust option[value="all"]').click()
    shown = dash.until(lambda: dash.find("#price-actions").get_attribute("data-actions"), "actions")
    start = (datetime.now(UTC) - timedelta(days=91)).isoformat()  # the page's 3M range
    params = {"start": start, "adjust": "all"}
    expected = dash.api("GET", "/instruments/AAPL/bars", params=params).json()
    assert int(shown) == len(expected["actions"])
    assert _chart(dash, "adjust") == "all" and _chart(dash, "kind") == "line"
    assert float(_chart(dash, "lastClose")) == expected["bars"][-1]["close"]
    dash.shot("instrument-line-adjusted")
    assert dash.console_errors() == []


def test_switching_to_korean_changes_the_text(dash: Dashboard) -> None:
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    assert dash.text("nav a[href='#/ops']") == "Operations"
    dash.find("#locale option[value='ko']").click()
    dash.until(lambda: dash.text("nav a[href='#/ops']") == "운영", "Korean navigation")
    assert dash.text("h1") == "관심 종목"
    assert dash.driver.execute_script("return document.documentElement.lang") == "ko"
    dash.find("table#watchlist")
    dash.shot("watchlist-ko")
    dash.open("#/ops")
    dash.until(lambda: dash.text("h1") == "운영", "the Korean ops page")
    dash.find("#providers tr[data-provider='yahoo']")
    dash.shot("ops-ko")
    dash.driver.execute_script("localStorage.clear()")


async def _in_db(dsn: str, work: Callable[[Any], Any]) -> Any:
    from core.storage.db import connect

    conn = await connect(dsn)
    try:
        return await work(conn)
    finally:
        await conn.close()


def test_the_collecting_banner_follows_a_run_and_goes_when_it_ends(dash: Dashboard) -> None:
    from core.storage import job_runs

    dsn = dash.stack.dsn()
    run_id = str(
        asyncio.run(_in_db(dsn, lambda c: job_runs.start_run(c, "collect", "trace-web", {})))
    )
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    line = f'#collecting p[data-run="{run_id}"]'
    assert "Collecting prices and news…" in dash.find(line).text  # from /status: no counts yet
    pending = [
        r["id"] for r in dash.api("GET", "/watchlist").json()["instruments"] if r["last"] is None
    ]
    for instrument in pending:  # no price yet, and one may come: said so instead of a dash
        cell = f'#watchlist tr[data-instrument="{instrument}"] td[data-field="price"]'
        assert dash.text(cell) == "collecting…"
    dash.until(lambda: dash.text("#live-status") == "Live", "the live connection")

    for done in (3, 7):
        dash.publish(
            "job.progress",
            {"kind": "collect", "run_id": run_id, "trace_id": "trace-web", "done": done,
             "total": 10, "counts": {}, "last": "AAPL"},
        )  # fmt: skip
        dash.until(lambda d=done: f"{d}/10" in (dash.text(line) or ""), f"{done}/10 shown")
        value, top = dash.driver.execute_script(
            "const p = document.querySelector(arguments[0]); return [p.value, p.max];",
            line + " progress",
        )
        assert (value, top) == (done, 10)
    dash.shot("watchlist-collecting")

    asyncio.run(_in_db(dsn, lambda c: job_runs.finish_run(c, uuid.UUID(run_id), "succeeded", {})))
    dash.until(lambda: not dash.driver.find_elements("css selector", line), "the banner to go")
    if not dash.api("GET", "/status").json()["collecting"]:  # up's first run may still go
        cells = [f'#watchlist tr[data-instrument="{i}"] td[data-field="price"]' for i in pending]
        dash.until(
            lambda: all(dash.text(c) != "collecting…" for c in cells), "pending cells to clear"
        )
    assert dash.console_errors() == []


# --- part C ---
# The watchlist at index size: the S&P 500 and KOSPI 200 group files' instruments (those the
# stack does not follow already) with 30 daily closes each, written to the stack's database
# through the storage writers and removed again at the end.

SPARK_DAYS = 30


def _index_instruments() -> list[Any]:
    from configs.groups import read_group_file
    from configs.settings import load_settings
    from core.models import Instrument

    settings = load_settings()
    found = []
    for group in ("sp500", "kospi200"):
        path = settings.config_dir / "watchlists" / f"{group}.csv"
        for i in read_group_file(path, settings.providers):
            found.append(Instrument(i.id, i.name, i.exchange, i.currency, i.timezone, i.symbols))
    return found


async def _seed(conn: Any, instruments: list[Any]) -> None:
    from core.models import Bar
    from core.storage.db import sync_instruments
    from core.storage.writers import write_bars

    await sync_instruments(conn, instruments)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    bars = []
    for k, inst in enumerate(instruments):
        base, step = 30.0 + (k * 37) % 500, ((k % 7) - 3) * 0.25  # rising, flat or falling (>0)
        for d in range(SPARK_DAYS):
            close = base + step * d + (d % 3) * 0.5
            ts = today - timedelta(days=SPARK_DAYS + 1 - d)
            bars.append(Bar(inst.id, "1d", ts, close, close, close, close, 1000, "yahoo"))
    await write_bars(conn, bars)


async def _unseed(conn: Any, ids: list[str]) -> None:
    await conn.execute("DELETE FROM bars WHERE instrument_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM instruments WHERE id = ANY($1::text[])", ids)


@pytest.fixture
def index_watchlist(dash: Dashboard) -> Iterator[int]:
    """The stack's watchlist grown to the index groups' size; how many rows it has."""
    known = {r["id"] for r in dash.api("GET", "/watchlist").json()["instruments"]}
    added = [i for i in _index_instruments() if i.id not in known]
    dsn = dash.stack.dsn()
    ids = [i.id for i in added]
    try:
        asyncio.run(_in_db(dsn, lambda c: _seed(c, added)))
        _drop_watchlist_cache(dash)
        total = len(known) + len(added)
        dash.until(lambda: dash.api("GET", "/watchlist").json()["total"] == total, "the seed")
        yield total
    finally:
        asyncio.run(_in_db(dsn, lambda c: _unseed(c, ids)))
        _drop_watchlist_cache(dash)


def _drop_watchlist_cache(dash: Dashboard) -> None:
    # Any event naming an instrument drops the cached watchlist answers (serve_app.cache);
    # "article" moves no price on an open page.
    dash.publish("article", {"instrument": "AAPL", "fingerprint": "part-c-seed"})


LOADED = """
const [want, done] = [arguments[0], arguments[arguments.length - 1]];
(function wait() {
  const rows = document.querySelectorAll('#watchlist tbody tr').length;
  if (rows >= want) done(performance.now());
  else requestAnimationFrame(wait);
})();
"""

CLICK = """
const t0 = performance.now();
document.querySelector(arguments[0]).click();
void document.body.offsetHeight;  // style and layout of the new order included
return performance.now() - t0;
"""


def _order(dash: Dashboard) -> list[str]:
    return dash.driver.execute_script(
        "return [...document.querySelectorAll('#watchlist tbody tr')]"
        ".filter((tr) => !tr.hidden).map((tr) => tr.dataset.instrument)"
    )


def test_the_watchlist_sorts_filters_and_draws_sparklines_at_index_size(
    dash: Dashboard, index_watchlist: int
) -> None:
    from selenium.webdriver.common.keys import Keys

    total = index_watchlist
    assert total > 600
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    timings = {}
    for run in range(3):  # a full load each: navigation start to every row in the table
        dash.driver.refresh()
        timings[f"load_{run}_ms"] = dash.driver.execute_async_script(LOADED, total)
    rows = dash.api("GET", "/watchlist", params={"spark": SPARK_DAYS}).json()["instruments"]
    by_id = {r["id"]: r for r in rows}
    assert _order(dash) == [r["id"] for r in rows]  # the API's order (by id) first
    dash.find('#watchlist tbody tr[data-instrument="MMM"] svg.spark polyline')
    marks = dash.driver.execute_script(
        "return performance.getEntriesByType('measure')"
        ".filter((m) => m.name.startsWith('wl:')).map((m) => [m.name, m.duration])"
    )
    timings.update({f"{name}_ms": ms for name, ms in marks})

    # Sparklines: one polyline per row with prices, one point per daily close.
    drawn = dash.driver.execute_script(
        "return [...document.querySelectorAll('#watchlist tbody tr')].map((tr) => {"
        "  const p = tr.querySelector('svg.spark polyline');"
        "  return [tr.dataset.instrument, p ? p.getAttribute('points').trim().split(/\\s+/).length"
        "    : 0]; })"
    )
    for instrument, points in drawn:
        closes = len(by_id[instrument]["sparkline"])
        assert points == (closes if closes >= 2 else 0), instrument  # a line needs two
    assert sum(1 for _, points in drawn if points == SPARK_DAYS) >= total - 5

    # Sorting: by last price (numbers as numbers, rows without a price last), then reversed.
    price_head = '#watchlist thead th[data-sort="price"] button'
    timings["sort_price_ms"] = dash.driver.execute_script(CLICK, price_head)
    head = dash.find('#watchlist thead th[data-sort="price"]')
    assert head.get_attribute("aria-sort") == "ascending"
    priced = [r for r in rows if r["last"] is not None]
    unpriced = [r["id"] for r in rows if r["last"] is None]
    ascending = [r["id"] for r in sorted(priced, key=lambda r: r["last"])] + unpriced
    assert _order(dash) == ascending
    timings["sort_price_desc_ms"] = dash.driver.execute_script(CLICK, price_head)
    assert head.get_attribute("aria-sort") == "descending"
    descending = [r["id"] for r in sorted(priced, key=lambda r: -r["last"])] + unpriced
    assert _order(dash) == descending  # stable: equal prices keep the id order
    name_head = '#watchlist thead th[data-sort="name"] button'
    timings["sort_name_ms"] = dash.driver.execute_script(CLICK, name_head)
    assert dash.find('#watchlist thead th[data-sort="price"]').get_attribute("aria-sort") is None
    unordered = dash.driver.execute_script(
        "const names = [...document.querySelectorAll('#watchlist tbody td[data-field=name]')]"
        "  .map((td) => td.textContent);"
        "return names.filter((n, i) => i && names[i - 1].localeCompare(n) > 0);"
    )
    assert unordered == []  # each name after the one before it, in the page's collation
    dash.shot("watchlist-index-sorted")

    # Filtering: ticker or name, any case, Korean names (the newsapi symbol) too; "N of M".
    field = dash.find("#wl-filter")
    field.send_keys("electronics")
    want = sorted(r["id"] for r in rows if "electronics" in r["name"].lower())
    assert len(want) >= 2
    dash.until(lambda: sorted(_order(dash)) == want, "the filtered rows")
    assert dash.text("#wl-count") == f"{len(want)} of {total}"
    field.clear()
    field.send_keys("삼성")
    samsung = sorted(r["id"] for r in rows if "삼성" in r["symbols"].get("newsapi", ""))
    assert "005930.KS" in samsung
    dash.until(lambda: sorted(_order(dash)) == samsung, "the rows with a Korean name")
    assert dash.text("#wl-count") == f"{len(samsung)} of {total}"
    dash.shot("watchlist-index-filtered")
    timings.update(
        dash.driver.execute_script(
            "return Object.fromEntries(performance.getEntriesByName('wl:filter', 'measure')"
            ".map((m, i) => ['filter_' + i + '_ms', m.duration]))"
        )
    )
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)  # an emptied box shows every row again
    dash.until(lambda: len(_order(dash)) == total, "every row again")
    assert dash.text("#wl-count") == f"{total} of {total}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "watchlist-timings.json").write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings))
    assert dash.console_errors() == []


# --- part A ---
# The instrument chart (lightweight-charts on canvases): its state is read from the data
# attributes the page keeps on #price-chart (bars, kind, markers and where they are drawn,
# the visible time range).


def _chart(dash: Dashboard, name: str) -> str | None:
    """A data attribute of the chart container (camelCase `name`), None while unset."""
    return dash.driver.execute_script(
        "const el = document.getElementById('price-chart'); "
        "return el ? (el.dataset[arguments[0]] ?? null) : null;",
        name,
    )


def _pixels(dash: Dashboard) -> list[str]:
    """What the chart's canvases show (their PNG data), to tell that a drawing changed."""
    return dash.driver.execute_script(
        "return [...document.querySelectorAll('#price-chart canvas')].map(c => c.toDataURL());"
    )


def _story_on_a_quiet_day(dash: Dashboard, fingerprint: str, url: str) -> str:
    """An AAPL article (published on a day of the chart with no other news), its negative
    verdict, a filing the same day, and a published report whose largest move is 20 bars
    back, written to the stack's database (the report announced as a job does); its fact id."""
    from core.models import Article, Disclosure
    from core.storage import analyses, reports
    from core.storage.writers import write_articles, write_disclosures

    start = (datetime.now(UTC) - timedelta(days=91)).isoformat()
    bars = dash.api("GET", "/instruments/AAPL/bars", params={"start": start}).json()["bars"]
    marks = dash.api("GET", "/instruments/AAPL/markers", params={"start": start}).json()
    busy = {n["published_at"][:10] for n in marks["news"]}
    days = [b["ts"] for b in bars[5:-5] if b["ts"][:10] not in busy] or [bars[-10]["ts"]]
    at = datetime.fromisoformat(days[len(days) // 2]) + timedelta(hours=1)
    article = Article(fingerprint, url, "Chart marker test story", None, at, "newsapi", "en",
                      instrument_ids=("AAPL",))  # fmt: skip
    filing = Disclosure("dart", f"t-{fingerprint}", "AAPL", "Chart marker test filing", at,
                        None, url + "&filing=1")  # fmt: skip
    moved = [b["ts"][:10] for b in bars[-21:-19]]  # UTC days of daily bars: the exchange's
    fact = {"id": "f1", "kind": "largest_move", "value": -4.25, "unit": "%", "details": {},
            "text": f"largest daily move in the window -4.25% on {moved[1]}",
            "source": {"table": "bars", "instrument_id": "AAPL", "keys": moved}}  # fmt: skip
    now = datetime.now(UTC)
    report = reports.NewReport(
        "AAPL", f"chart-{fingerprint}", now - timedelta(days=30), now, "lexicon", None, "t",
        "en", "Chart test report", [], [], None, "hold", 0.0, {}, [], facts=[fact],
    )  # fmt: skip

    async def work(conn: Any) -> str:
        await write_articles(conn, [article])
        await write_disclosures(conn, [filing])
        await analyses.store_verdicts(
            conn, [(fingerprint, "AAPL", "t", "lexicon", None, "t", -0.7, "negative", 1.0, None)]
        )
        return str(await reports.insert_report(conn, report))

    report_id = asyncio.run(_in_db(dash.stack.dsn(), work))
    dash.publish(
        "report.published", {"instrument": "AAPL", "report_id": report_id, "trace_id": "t"}
    )  # drops the API's cached analysis of AAPL, as a published report does
    return fact["id"]


def test_instrument_chart_markers_open_their_items_zoom_and_a_live_bar(dash: Dashboard) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    _ensure_bars(dash)
    fingerprint = f"chart-{uuid.uuid4().hex[:12]}"
    url = f"{dash.url}static/favicon.svg?story={fingerprint}"
    fact = _story_on_a_quiet_day(dash, fingerprint, url)
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    dash.open("#/instrument/AAPL")
    marker = f"n:{fingerprint}"
    dash.until(lambda: marker in (_chart(dash, "markerIds") or "").split(), "the story's marker")
    assert f"d:dart:t-{fingerprint}" in _chart(dash, "markerIds").split()  # the filing's
    dash.until(lambda: f"m:{fact}" in _chart(dash, "markerIds").split(), "the largest move")
    item = dash.find(f'#news li[data-marker="{marker}"]')  # the list item agrees
    assert "negative news" in item.text
    dash.shot("instrument-markers")

    def point() -> dict[str, int] | None:
        points = json.loads(_chart(dash, "markerPoints") or "[]")
        return next((p for p in points if p["id"] == marker), None)

    where = dash.until(point, "the marker's position")
    host = dash.find("#price-chart .chart-host")
    size = host.size
    assert 0 < where["x"] < size["width"] and 0 < where["y"] < size["height"]
    windows = set(dash.driver.window_handles)
    actions = ActionChains(dash.driver)
    actions.move_to_element_with_offset(
        host, where["x"] - size["width"] // 2, where["y"] - size["height"] // 2
    )
    actions.perform()
    dash.until(lambda: _chart(dash, "hovered") == marker, "the marker under the mouse")
    ActionChains(dash.driver).click().perform()
    [opened] = dash.until(lambda: set(dash.driver.window_handles) - windows, "a new tab")
    main = dash.driver.current_window_handle
    dash.driver.switch_to.window(opened)
    try:
        dash.until(lambda: dash.driver.current_url == url, "the article's URL opened")
    finally:
        dash.driver.close()
        dash.driver.switch_to.window(main)
    assert _chart(dash, "opened") == marker

    # Zoom: the control halves the visible range; the mouse wheel zooms too; fit shows all.
    full = (float(_chart(dash, "visibleFrom")), float(_chart(dash, "visibleTo")))
    dash.find("#chart-zoom-in").click()

    def span() -> float:
        return float(_chart(dash, "visibleTo")) - float(_chart(dash, "visibleFrom"))

    dash.until(lambda: span() < (full[1] - full[0]) * 0.75, "a narrower visible range")
    zoomed = span()
    dash.shot("instrument-zoomed")
    ActionChains(dash.driver).scroll_from_origin(ScrollOrigin.from_element(host), 0, -300).perform()
    dash.until(lambda: span() < zoomed, "the wheel zoomed in further")
    dash.find("#chart-fit").click()
    dash.until(lambda: span() >= full[1] - full[0], "the whole range again")

    # A live bar for AAPL moves the chart's last bar (no refetch: the same page).
    ActionChains(dash.driver).move_to_element(dash.find("h1")).perform()  # crosshair off
    dash.until(lambda: dash.text("#live-status") == "Live", "the live connection")
    bars = int(_chart(dash, "bars"))
    before = _pixels(dash)
    dash.publish(
        "bar",
        {"instrument": "AAPL", "interval": "1d", "ts": datetime.now(UTC).isoformat(),
         "close": 4444.25, "previous_close": 4000.0},
    )  # fmt: skip
    dash.until(lambda: "4,444.25" in (dash.text("#chart-legend") or ""), "the live bar's close")
    assert int(_chart(dash, "bars")) in (bars, bars + 1)  # the day's bar updated, or a new day
    assert _chart(dash, "lastClose") == "4444.25"
    dash.until(lambda: _pixels(dash) != before, "the live bar drawn")
    dash.shot("instrument-live")
    assert dash.console_errors() == []


def test_instrument_chart_in_korean(dash: Dashboard) -> None:
    _ensure_bars(dash)
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    dash.find("#locale option[value='ko']").click()
    dash.until(lambda: dash.text("nav a[href='#/ops']") == "운영", "Korean navigation")
    dash.open("#/instrument/AAPL")
    dash.until(lambda: _chart(dash, "bars"), "bars on the chart")
    assert "긍정 뉴스" in dash.text("#chart-key") and "공시" in dash.text("#chart-key")
    assert "종 " in dash.text("#chart-legend") and "거래량" in dash.text("#chart-legend")
    assert dash.find("#chart-zoom-in").get_attribute("title") == "확대"
    assert dash.text("#chart-fit") == "전체"
    dash.shot("instrument-ko")
    dash.driver.execute_script("localStorage.clear()")
    assert dash.console_errors() == []


# --- part B ---


def _seed_ops_history(dash: Dashboard) -> None:
    """One LLM call that cost $0.42 and one failed backfill run, as the stack's jobs write
    them (the sim stack makes no paid LLM calls, and its runs succeed)."""
    from core.storage import job_runs, llm_usage

    async def seed(conn: Any) -> None:
        row = llm_usage.UsageRow("sim", "m", 100, 20, 420_000, "trace-b", "analysis", "ok")
        await llm_usage.insert(conn, row)
        run = await job_runs.start_run(conn, "backfill", "trace-b", {})
        await job_runs.finish_run(conn, run, "failed", {}, "seeded failure")

    asyncio.run(_in_db(dash.stack.dsn(), seed))


def _provider_requests(dash: Dashboard) -> int:
    rates = dash.api("GET", "/ops/charts/providers", params={"minutes": 60}).json()
    return sum(m["requests"] for p in rates["providers"] for m in p["minutes"])


def test_ops_page_draws_spend_job_and_provider_rate_charts(dash: Dashboard) -> None:
    _ensure_bars(dash)  # a backfill (if none ran yet): a finished run and provider requests
    _seed_ops_history(dash)
    # The provider actors add their per-minute counts every ~10 s.
    dash.until(lambda: _provider_requests(dash) > 0, "provider requests counted", 60)
    dash.sign_in(dash.read_key)
    dash.find("table#watchlist")
    dash.open("#/ops")
    for chart in ("spend", "jobs", "rates"):
        dash.find(f'#chart-{chart}[data-state="drawn"] canvas')
        assert int(dash.find(f"#chart-{chart}").get_attribute("data-points")) > 0
    assert dash.find("#chart-spend").get_attribute("data-points") == "30"  # one bar a day
    assert "$0.42" in dash.text("#chart-spend .opschart-note")
    assert int(dash.find("#chart-jobs").get_attribute("data-failed")) >= 1
    assert "backfill" in dash.text("#chart-jobs .opschart-legend")
    assert dash.find('#chart-rates .opschart-canvas[data-provider="yahoo"] canvas')
    assert "of 300/min allowed" in dash.text("#chart-rates")  # yahoo's 5 a second
    dash.shot("ops-charts")
    assert dash.console_errors() == []

    dash.find("#locale option[value='ko']").click()
    dash.until(lambda: dash.text("#chart-spend figcaption") == "일별 LLM 비용, 최근 30일", "ko")
    dash.find('#chart-rates[data-state="drawn"] canvas')
    assert dash.text("#h-opscharts") == "한눈에 보기"
    assert "작업 소요 시간" in dash.text("#chart-jobs figcaption")
    assert "분당 한도" in dash.text("#chart-rates .opschart-legend")
    assert "실패" in dash.text("#chart-jobs .opschart-note")
    dash.shot("ops-charts-ko")
    dash.driver.execute_script("localStorage.clear()")
    assert dash.console_errors() == []
