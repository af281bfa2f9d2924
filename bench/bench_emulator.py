"""How many authenticated requests per second the API Gateway emulator serves.

Starts a moto server (Cognito for a real token, CloudWatch for the metrics), the emulator with
its JWT authorizer on and backend latency 0 in a subprocess, then drives it from a separate load
process on 127.0.0.1 for a bounded time over several keep-alive connections, and prints:
requests served per second, and requests per CPU-second of the emulator process (psutil).

The load process is a small asyncio client (one request in flight per connection, no
pipelining, no HTTP library) so that the client costs as little CPU as possible.

    .venv/bin/python bench/bench_emulator.py [--duration 10] [--connections 32] [--route /items]

Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
_MAX_DURATION = 60.0
_MAX_CONNECTIONS = 256


# --------------------------------------------------------------------------- the load process


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending ``request`` again as soon as each answer is complete."""

    def __init__(self, request: bytes, deadline: float, done: asyncio.Future[None], tally: dict[int, int]) -> None:
        self.request = request
        self.deadline = deadline
        self.done = done
        self.tally = tally
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = end + 4 + length
            if len(self.buf) < total:
                return
            status = int(head[9:12])
            self.tally[status] = self.tally.get(status, 0) + 1
            self.buf = self.buf[total:]
            if time.monotonic() >= self.deadline:
                self.transport.close()
                return
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _load(host: str, port: int, path: str, token: str, duration: float, connections: int) -> dict:
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\nConnection: keep-alive\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    tally: dict[int, int] = {}
    start = time.monotonic()
    deadline = start + duration
    dones = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda done=done: _Conn(request, deadline, done, tally), host, port)
        dones.append(done)
    await asyncio.wait_for(asyncio.gather(*dones), duration + 10)
    elapsed = time.monotonic() - start
    return {"elapsed": elapsed, "statuses": {str(k): v for k, v in sorted(tally.items())}}


def load_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    result = run(_load(args.host, args.port, args.route, args.token, args.duration, args.connections))
    print(json.dumps(result))


# --------------------------------------------------------------------------- the driver


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:  # 127.0.0.1 only
        return json.loads(resp.read())


def _moto():
    """A started moto server: ours (harness.local.moto) if present, else plain moto."""
    try:
        from harness.local.moto import MotoServer
    except ImportError:
        MotoServer = None  # noqa: N806
    if MotoServer is not None:
        server = MotoServer().start()
        return server.url, server.stop
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **_CREDENTIALS},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return url, stop


def _token(moto_url: str) -> tuple[str, str, str]:
    import boto3

    idp = boto3.client("cognito-idp", endpoint_url=moto_url, region_name="us-east-1")
    pool = idp.create_user_pool(PoolName="bench")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=pool,
        ClientName="bench",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="bench", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="bench", Password="Bench-pass-1", Permanent=True)
    auth = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "bench", "PASSWORD": "Bench-pass-1"},
    )
    return pool, client, auth["AuthenticationResult"]["AccessToken"]


def driver_main(args: argparse.Namespace) -> None:
    import psutil

    os.environ.update({k: os.environ.get(k, v) for k, v in _CREDENTIALS.items()})
    duration = min(args.duration, _MAX_DURATION)
    connections = max(1, min(args.connections, _MAX_CONNECTIONS))
    moto_url, stop_moto = _moto()
    emulator = None
    try:
        pool, client, token = _token(moto_url)
        config = {
            "host": "127.0.0.1",
            "port": 0,
            "authorizer": {
                "user_pool_id": pool,
                "jwks_url": f"{moto_url}/{pool}/.well-known/jwks.json",
                "audience": [client],
            },
            "throttle": {"rate": 1_000_000, "burst": 1_000_000},
            "backend": {"latency_ms": args.latency_ms, "latency_sigma": 0.0},
            "metrics": {"enabled": not args.no_metrics, "endpoint_url": moto_url},
        }
        workdir = Path(tempfile.mkdtemp(prefix="bench-apigw-"))
        (workdir / "apigw.json").write_text(json.dumps(config))
        emulator = subprocess.Popen(
            [sys.executable, "-m", "harness.local.apigw", "--config-file", str(workdir / "apigw.json")],
            stdout=subprocess.PIPE,
            stderr=open(workdir / "apigw.log", "wb"),  # noqa: SIM115
            cwd=ROOT,
            env={**os.environ, **_CREDENTIALS},
        )
        ready = json.loads(emulator.stdout.readline())
        port, url = ready["port"], ready["url"]
        warm = urllib.request.Request(f"{url}{args.route}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(warm, timeout=5) as resp:  # warms the JWT cache
            if resp.status != 200:
                raise SystemExit(f"the warm-up request answered {resp.status}; see {workdir / 'apigw.log'}")
        reset = urllib.request.Request(f"{url}/_admin/counts/reset", method="POST")
        urllib.request.urlopen(reset, timeout=5).close()

        proc = psutil.Process(emulator.pid)
        cpu0 = proc.cpu_times()
        t0 = time.monotonic()
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--load",
                "--port",
                str(port),
                "--route",
                args.route,
                "--token",
                token,
                "--duration",
                str(duration),
                "--connections",
                str(connections),
            ],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        )
        wall = time.monotonic() - t0
        cpu1 = proc.cpu_times()
        result = json.loads(out.stdout)
        counts = _get(f"{url}/_admin/counts")
        time.sleep(min(2.5, config["metrics"].get("interval", 1.0) * 2.5))
        stats = _get(f"{url}/_admin/stats")
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(20)
        stop_moto()

    served = sum(result["statuses"].values())
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    print(
        f"emulator benchmark: GET {args.route}, JWT authorizer on (cache hot), backend latency {args.latency_ms} ms,"
        f" metrics {'off' if args.no_metrics else 'on'}, {connections} keep-alive connections, {duration:g} s,"
        f" {os.cpu_count()} CPUs"
    )
    print(f"  statuses seen by client:        {result['statuses']}")
    print(f"  emulator counts (admin):        total {counts['total']} {counts['routes']}")
    print(f"  requests served per second:     {served / result['elapsed']:,.0f}")
    print(f"  emulator CPU seconds:           {cpu:.2f} over {wall:.2f} s wall ({100 * cpu / wall:.0f}% of one core)")
    print(f"  requests per emulator CPU-sec:  {served / cpu:,.0f}" if cpu > 0 else "  (no CPU time measured)")
    print(f"  metrics publisher:              {stats['metrics']}")
    print(f"  emulator exit code:             {emulator.returncode if emulator else None}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--route", default="/items", help="path to request (default /items)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (max 60)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections (max 256)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="backend latency (default 0)")
    parser.add_argument("--no-metrics", action="store_true", help="do not publish CloudWatch metrics")
    args = parser.parse_args()
    if args.load:
        load_main(args)
    else:
        driver_main(args)


if __name__ == "__main__":
    main()
