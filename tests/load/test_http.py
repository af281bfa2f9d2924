"""The virtual user's HTTP connection (``ApiClient``) against a small threaded HTTP server on
127.0.0.1 that records what it received and on how many connections."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from geventhttpclient.response import HTTPParseError

from harness.errors import RequestNotSent
from harness.load.http import ApiClient


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[dict[str, Any]] = []
        self.connections = 0
        self.close_after = False  # answer with Connection: close
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        if self.server.delay:
            time.sleep(self.server.delay)
        status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        payload = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.server.close_after:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 - http.server's names


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_get_reads_the_whole_answer_over_one_keep_alive_connection(server: Server) -> None:
    api = ApiClient(server.url, user_agent="harness/test")
    for _ in range(5):
        response, length = api.send("GET", "/items", {"Authorization": "Bearer abc"}, None)
        assert response.status_code == 200
        assert length == len(json.dumps({"path": "/items"}))
    api.close()
    assert server.connections == 1
    assert [s["path"] for s in server.seen] == ["/items"] * 5
    headers = server.seen[0]["headers"]
    assert headers["Authorization"] == "Bearer abc"
    assert headers["User-Agent"] == "harness/test"
    assert "Cookie" not in headers


@pytest.mark.parametrize(("path", "headers"), [("/?q=a b", None), ("/items", {"X-Note": "a\nb"})])
def test_a_request_the_client_refuses_to_build_raises_request_not_sent_and_sends_nothing(server: Server, path: str, headers: Any) -> None:
    api = ApiClient(server.url)
    with pytest.raises(RequestNotSent, match="nothing was sent"):
        api.send("GET", path, headers, None)
    api.close()
    assert server.seen == [] and server.connections == 0


def test_the_base_url_path_prefixes_every_request(server: Server) -> None:
    """A REST API's stage is part of its invoke URL: https://id.execute-api.region.amazonaws.com/prod"""
    api = ApiClient(server.url + "/prod/")
    response, _ = api.send("GET", "/items/7", None, None)
    assert response.status_code == 200
    assert server.seen[-1]["path"] == "/prod/items/7"


def test_post_sends_the_body_with_its_length(server: Server) -> None:
    api = ApiClient(server.url)
    body = json.dumps({"sku": "A-1", "qty": 2})
    response, _ = api.send("POST", "/orders", {"Content-Type": "application/json"}, body)
    assert response.status_code == 200
    seen = server.seen[-1]
    assert seen["method"] == "POST" and seen["body"] == body.encode()
    assert seen["headers"]["Content-Length"] == str(len(body))
    assert seen["headers"]["Content-Type"] == "application/json"


def test_any_status_is_an_answer_not_an_error(server: Server) -> None:
    api = ApiClient(server.url)
    assert [api.send("GET", f"/status/{s}", None, None)[0].status_code for s in (401, 429, 503, 302)] == [401, 429, 503, 302]
    assert server.connections == 1  # error statuses keep the connection


def test_a_connection_the_server_closes_is_reopened(server: Server) -> None:
    server.close_after = True
    api = ApiClient(server.url)
    for _ in range(3):
        assert api.send("GET", "/items", None, None)[0].status_code == 200
    assert server.connections == 3


def test_refused_connection_raises_an_os_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    api = ApiClient(f"http://127.0.0.1:{port}", connection_timeout=1)
    with pytest.raises(OSError):
        api.send("GET", "/items", None, None)


def test_a_slow_answer_times_out_after_the_network_timeout(server: Server) -> None:
    server.delay = 4.0
    api = ApiClient(server.url, network_timeout=0.2)
    began = time.monotonic()
    with pytest.raises((OSError, HTTPParseError)):
        api.send("GET", "/items", None, None)
    assert time.monotonic() - began < 2.0  # the timeout, not the answer 4 s later (and room for a busy machine)


def test_https_urls_get_tls_with_certificate_checks() -> None:
    api = ApiClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    assert api.prefix == "/prod"
    pool = api._http._connection_pool
    assert pool.ssl_context.check_hostname is True
    assert ApiClient("https://example.com", insecure=True)._http._connection_pool.ssl_context.check_hostname is False


@pytest.mark.parametrize("url", ["ftp://example.com", "example.com/items", ""])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        ApiClient(url)
