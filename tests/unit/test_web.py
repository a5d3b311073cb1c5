"""The dashboard's file serving: the page with the server's locale, assets, nothing else."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient

from serve_app import web
from serve_app.errors import install_error_handlers


def _client(locale: str = "ko") -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(web.router)
    app.state.context = SimpleNamespace(settings=SimpleNamespace(locale=locale))
    return TestClient(app)


def test_index_carries_the_server_locale_and_a_strict_csp() -> None:
    page = _client("ko").get("/")
    assert page.status_code == 200
    assert '<meta name="stockray-locale" content="ko">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_assets_are_served_with_their_types() -> None:
    client = _client()
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    vendored = client.get(
        "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"
    )
    assert vendored.status_code == 200
    assert vendored.headers["content-type"].startswith("text/javascript")
    assert "as createChart" in vendored.text[-2000:]  # an ES module imported as is
    icon = client.get("/favicon.ico")  # asked for by the browser on any page of the origin
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    # The package's LICENSE and package.json are kept beside it, but not served.
    assert client.get("/static/vendor/lightweight-charts/package.json").status_code == 404


def test_nothing_outside_the_static_dir_or_of_other_types() -> None:
    client = _client()
    for path in ("/static/../web.py", "/static/%2e%2e/web.py", "/static/..%2fapp.py",
                 "/static/index.html", "/static/nope.js", "/static/"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"
