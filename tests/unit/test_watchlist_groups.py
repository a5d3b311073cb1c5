"""Index watchlist groups: STOCKRAY_WATCHLIST, the shipped files, validation, `watchlist sync`."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import cli
from configs.groups import read_group_file
from configs.settings import PACKAGE_CONFIG_DIR, ConfigError, load_settings

HEADER = "id,name,exchange,currency,timezone,yahoo,alphavantage,newsapi,dart"
FIVE = {"AAPL", "MSFT", "NVDA", "005930.KS", "000660.KS"}


@pytest.fixture(autouse=True)
def _no_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKRAY_WATCHLIST", raising=False)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped YAML files, no group files, named by STOCKRAY_CONFIG_DIR."""
    target = tmp_path / "configs"
    target.mkdir()
    for path in PACKAGE_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    monkeypatch.setenv("STOCKRAY_CONFIG_DIR", str(target))
    return target


def _group(config_dir: Path, name: str, *rows: str, header: str = HEADER) -> Path:
    path = config_dir / "watchlists" / f"{name}.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(["# a test group", header, *rows]) + "\n", encoding="utf-8")
    return path


def test_default_is_the_five_of_watchlist_yaml() -> None:
    watchlist = load_settings().watchlist
    assert {i.id for i in watchlist.instruments} == FIVE
    assert watchlist.groups["us"] == ["AAPL", "MSFT", "NVDA"]
    assert watchlist.groups["kr"] == ["005930.KS", "000660.KS"]
    assert sorted(watchlist.groups["all"]) == sorted(FIVE)


def test_sp500_and_kospi200_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKRAY_WATCHLIST", "sp500, kospi200")
    settings = load_settings()
    watchlist = settings.watchlist
    ids = [i.id for i in watchlist.instruments]
    assert settings.watchlist_groups == "sp500,kospi200"
    assert len(ids) == len(set(ids)) == 703  # 503 + 200, the five counted once
    assert ids[:5] == ["AAPL", "MSFT", "NVDA", "005930.KS", "000660.KS"]  # watchlist.yaml first
    assert len(watchlist.groups["sp500"]) == 503
    assert len(watchlist.groups["kospi200"]) == 200
    assert watchlist.groups["all"] == ids
    assert {"us", "kr"} <= watchlist.groups.keys()
    berkshire = watchlist.get("BRK-B")
    assert berkshire is not None
    assert berkshire.symbols == {
        "yahoo": "BRK-B", "alphavantage": "BRK.B", "newsapi": "Berkshire Hathaway"
    }  # fmt: skip
    hyundai = watchlist.get("005380.KS")
    assert hyundai is not None and hyundai.symbols["dart"] == "00164742"
    assert hyundai.currency == "KRW" and hyundai.timezone == "Asia/Seoul"
    assert watchlist.get("TSLA") is not None and watchlist.get("NOPE") is None


def test_the_five_appear_in_the_group_files_with_watchlist_yaml_symbols() -> None:
    own = {i.id: i for i in load_settings().watchlist.instruments}
    providers = load_settings().providers
    rows = []
    for name in ("sp500", "kospi200"):
        rows += read_group_file(PACKAGE_CONFIG_DIR / "watchlists" / f"{name}.csv", providers)
    by_id = {row.id: row for row in rows}
    for ident in FIVE:
        assert by_id[ident].symbols == own[ident].symbols, ident


def test_every_kospi200_row_has_a_dart_code_and_a_krx_symbol() -> None:
    providers = load_settings().providers
    rows = read_group_file(PACKAGE_CONFIG_DIR / "watchlists" / "kospi200.csv", providers)
    assert len(rows) == 200
    for row in rows:
        assert re.fullmatch(r"\d{8}", row.symbols.get("dart", "")), row.id
        assert re.fullmatch(r"\d{6}\.KS", row.id) and row.symbols["yahoo"] == row.id
        assert row.exchange == "KRX" and row.symbols["newsapi"]
    assert len({row.symbols["dart"] for row in rows}) == 200


def test_sp500_rows_are_us_listings() -> None:
    providers = load_settings().providers
    rows = read_group_file(PACKAGE_CONFIG_DIR / "watchlists" / "sp500.csv", providers)
    assert len(rows) == 503
    assert {row.exchange for row in rows} == {"NYSE", "NASDAQ"}
    assert all(row.currency == "USD" and "dart" not in row.symbols for row in rows)


def test_unknown_group_names_the_variable_and_the_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKRAY_WATCHLIST", "sp500,nasdaq100")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "STOCKRAY_WATCHLIST" in message
    assert "unknown group 'nasdaq100'" in message
    assert "known: kospi200, sp500" in message


def test_watchlist_yaml_wins_over_a_group_row(config_dir: Path) -> None:
    _group(config_dir, "mine", "AAPL,Apple (the group's),NASDAQ,USD,America/New_York,AAPL,,,")
    watchlist = load_settings(STOCKRAY_WATCHLIST="mine").watchlist
    aapl = watchlist.get("AAPL")
    assert aapl is not None and aapl.name == "Apple Inc."
    assert watchlist.groups["mine"] == ["AAPL"]
    assert len(watchlist.instruments) == 5


@pytest.mark.parametrize(
    ("header", "rows", "expected"),
    [
        (HEADER, ["AAPL,Apple,NASDAQ,,,AAPL,,,", "TSLA,Tesla,NASDAQ,,,TSLA,,,",
                  "AAPL,Apple again,NASDAQ,,,AAPL,,,"], "line 5: duplicate id 'AAPL' (line 3)"),
        (HEADER, ["TSLA,Tesla,MOON,,,TSLA,,,"], "line 3: unknown exchange 'MOON'"),
        ("id,name,exchange,bloomberg", ["TSLA,Tesla,NASDAQ,TSLA US"],
         "line 2: column 'bloomberg' names no provider in providers.yaml"),
        (HEADER, ["TSLA,Tesla,NASDAQ,,,,,Tesla,"],
         "line 3: no symbol for a price provider (yahoo, alphavantage)"),
        (HEADER, ["005380.KS,Hyundai,KRX,,,005380.KS,,현대차,164742"],
         "line 3: dart code '164742' is not 8 digits"),
        (HEADER, ["HMC,Hyundai,KRX,,,HMC,,현대차,00164742"],
         "line 3: yahoo symbol 'HMC' of a KRX listing is not NNNNNN.KS/.KQ"),
        (HEADER, ["TSLA,Tesla,NASDAQ,USD,Mars/Olympus,TSLA,,,"],
         "line 3: timezone 'Mars/Olympus': 'Mars/Olympus' is not an IANA time zone"),
        ("id,name", ["TSLA,Tesla"], "line 2: missing column(s): exchange"),
        (HEADER, ["TSLA,Tesla,NASDAQ"], "line 3: 3 cells for 9 columns"),
    ],
)  # fmt: skip
def test_bad_group_file_is_refused_with_its_line(
    config_dir: Path, header: str, rows: list[str], expected: str
) -> None:
    _group(config_dir, "bad", *rows, header=header)
    with pytest.raises(ConfigError) as caught:
        load_settings(STOCKRAY_WATCHLIST="bad")
    assert f"watchlists/bad.csv {expected}" in str(caught.value)


def test_stockray_exits_2_with_the_line_of_a_bad_group(config_dir: Path) -> None:
    _group(config_dir, "bad", "TSLA,Tesla,NASDAQ,,,TSLA,,,", "TSLA,Tesla,NASDAQ,,,TSLA,,,")
    done = subprocess.run(
        [sys.executable, "-m", "cluster.cli", "config"],
        env={
            "STOCKRAY_CONFIG_DIR": str(config_dir),
            "STOCKRAY_WATCHLIST": "bad",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "watchlists/bad.csv line 4: duplicate id 'TSLA' (line 3)" in lines[0]


def _sync(group: str, source: str) -> int:
    return cli.main(["watchlist", "sync", "--group", group, "--from", source])


def test_sync_writes_the_group_and_counts_the_changes(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "# from the index provider, 2026-11-30\nid,name,exchange\n"
        "TSLA,Tesla,NASDAQ\nKO,Coca-Cola,NYSE\n005380.KS,Hyundai Motor,KRX\n",
        encoding="utf-8",
    )
    assert _sync("mine", str(first)) == 0
    assert "3 added, 0 removed, 0 changed" in capsys.readouterr().out
    written = (config_dir / "watchlists" / "mine.csv").read_text(encoding="utf-8")
    assert written.startswith("# from the index provider, 2026-11-30\n# Synced by")
    assert f"from {first} on " in written
    # One column per provider of providers.yaml; the last, rss, reads feeds, not symbols.
    assert "KO,Coca-Cola,NYSE,USD,America/New_York,KO,KO,Coca-Cola,,\n" in written
    assert "005380.KS,Hyundai Motor,KRX,KRW,Asia/Seoul,005380.KS,,Hyundai Motor,,\n" in written

    second = tmp_path / "second.csv"
    second.write_text(
        "id,name,exchange,yahoo\nTSLA,Tesla Inc.,NASDAQ,TSLA\nPEP,PepsiCo,NASDAQ,PEP\n"
        "005380.KS,Hyundai Motor,KRX,005380.KS\n",
        encoding="utf-8",
    )
    assert _sync("mine", str(second)) == 0
    out = capsys.readouterr().out
    assert "1 added, 1 removed, 1 changed" in out
    assert "added: PEP" in out and "removed: KO" in out and "changed: TSLA" in out
    watchlist = load_settings(STOCKRAY_WATCHLIST="mine").watchlist
    assert watchlist.groups["mine"] == ["TSLA", "PEP", "005380.KS"]
    assert watchlist.get("PEP").symbols == {
        "yahoo": "PEP",
        "alphavantage": "PEP",
        "newsapi": "PepsiCo",
    }
    assert (config_dir / "watchlists" / "mine.csv").read_text().count("# Synced by") == 1


def test_sync_refuses_a_bad_file_and_changes_nothing(
    config_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _group(config_dir, "mine", "TSLA,Tesla,NASDAQ,USD,America/New_York,TSLA,TSLA,Tesla,")
    before = target.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name,exchange\nKO,Coca-Cola,NYSE\nXX,Nowhere,MOON\n", encoding="utf-8")
    assert _sync("mine", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad} line 3: unknown exchange 'MOON'" in err
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["mine.csv"]  # no temp file left
    assert _sync("all", str(bad)) == 2  # the automatic group's name is taken
    assert _sync("us", str(bad)) == 2  # so are watchlist.yaml's
    assert _sync("mine", str(tmp_path / "missing.csv")) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 and its base URL."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sync_from_a_url(
    config_dir: Path, http_dir: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, base = http_dir
    (folder / "index.csv").write_text(
        "\ufeffid,name,exchange,dart\n000270.KS,Kia,KRX,00106641\n", encoding="utf-8"
    )  # a byte-order mark, as spreadsheet exports write
    assert _sync("kr_autos", f"{base}/index.csv") == 0
    assert "1 added, 0 removed, 0 changed" in capsys.readouterr().out
    kia = load_settings(STOCKRAY_WATCHLIST="kr_autos").watchlist.get("000270.KS")
    assert kia is not None and kia.symbols["dart"] == "00106641"
    assert _sync("kr_autos", f"{base}/gone.csv") == 2
    assert "404" in capsys.readouterr().err


def test_sync_refuses_what_a_schedule_of_the_selected_group_still_names(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _group(config_dir, "mine", "TSLA,Tesla,NASDAQ,USD,America/New_York,TSLA,TSLA,Tesla,")
    schedules = config_dir / "schedules.yaml"
    schedules.write_text(
        schedules.read_text()
        + "  - name: tesla\n    tickers: [TSLA]\n    capabilities: [prices]\n    interval_s: 900\n"
    )
    monkeypatch.setenv("STOCKRAY_WATCHLIST", "mine")
    assert load_settings().watchlist.get("TSLA") is not None
    before = target.read_bytes()
    other = tmp_path / "other.csv"
    other.write_text("id,name,exchange\nKO,Coca-Cola,NYSE\n", encoding="utf-8")
    assert _sync("mine", str(other)) == 2
    assert target.read_bytes() == before
    monkeypatch.setenv("STOCKRAY_WATCHLIST", "")  # not selected: nothing to keep loading
    assert _sync("mine", str(other)) == 0
    assert "KO,Coca-Cola" in target.read_text()
