"""The whole local stack: a moto server with a Cognito user pool, plus the API Gateway emulator.

``LocalStack`` starts moto (``MotoServer``), creates the user pool ``harness-local`` and an app
client without a secret, writes the emulator's ``EmulatorConfig`` to a file and starts
``python -m harness.local.apigw --config-file PATH``, then waits for ``/_admin/health``.
``env()`` gives the variables that point boto3 and pycognito at it::

    with LocalStack(backend=BackendConfig(latency_ms=5)) as stack:
        os.environ.update(stack.env())
        ...  # boto3 now talks to moto; requests go to stack.info.api_url

With ``lambda_backend`` the API's routes go to a Lambda function instead of the mock backend:
``harness.local.apigw.lambda_backend`` deployed into moto (``harness-local-backend``, with
optional reserved concurrency and latency), run by the local Lambda runtime, so that Lambda's
throttling and metrics show as on AWS. ``LocalStack.for_scenario(scenario.local)`` sets the stack
up as a scenario's ``[local]`` section says::

    with LocalStack(lambda_backend=LambdaBackend(reserved_concurrency=5, latency_ms=200)) as stack:
        stack.info.lambda_function   # "harness-local-backend": its AWS/Lambda metrics are pulled

For a stack that outlives the command (``harness local up``/``status``/``down``) the same
start is run detached and its ``LocalStackInfo`` is kept in ``.harness/local.json`` (under the
current directory, or ``$HARNESS_STATE_DIR``). A foreground stack (``harness local run``) is
recorded there too while it runs (``record_local``/``forget_local``), so that other commands
find it the same way::

    info = local_up()        # starts, or returns the one already running
    local_status()           # {"info": ..., "moto": {...}, "emulator": {...}, "healthy": True}
    load_local_info()        # raises LocalStackError when none runs
    local_down()             # True if one was stopped
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from pydantic import BaseModel, ConfigDict, Field

from harness.aws import AwsContext
from harness.errors import LocalStackError
from harness.local.apigw import lambda_backend
from harness.local.apigw.config import (
    AuthorizerConfig,
    BackendConfig,
    EmulatorConfig,
    LambdaIntegration,
    MetricsConfig,
    Throttle,
)
from harness.local.moto import (
    MotoServer,
    http_get_json,
    http_ok,
    pid_alive,
    start_on_free_port,
    start_process,
    stop_pid,
    stop_process,
)

__all__ = [
    "LAMBDA_FUNCTION_NAME",
    "LambdaBackend",
    "LocalStack",
    "LocalStackInfo",
    "USER_POOL_NAME",
    "stack_for",
    "load_local_info",
    "local_down",
    "local_status",
    "local_up",
    "apply_local_settings",
    "local_differences",
    "scenario_differences",
    "record_local",
    "forget_local",
    "state_dir",
    "state_file",
]

USER_POOL_NAME = "harness-local"
EXPLICIT_AUTH_FLOWS = [
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
]
LAMBDA_FUNCTION_NAME = "harness-local-backend"
LAMBDA_FUNCTION_ENV = "HARNESS_LOCAL_LAMBDA_FUNCTION"
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_EMULATOR_MODULE = "harness.local.apigw"
_MOTO_MODULE = "harness.local.moto"
_NOT_RUNNING = "no local stack is running; start one with `harness local up`"


class LocalStackInfo(BaseModel):
    """Where a running local stack is; JSON-serialisable (the state file holds one)."""

    model_config = ConfigDict(extra="forbid")

    endpoint_url: str
    api_url: str
    region: str = "us-east-1"
    user_pool_id: str
    client_id: str
    api_id: str
    stage: str
    pids: dict[str, int] = Field(default_factory=dict)  # "moto", "emulator"
    log_dir: str
    lambda_function: str | None = None  # the backend function, when the API sends routes to Lambda

    def env(self, *, timeout: float = 5.0, jwks: bool = True) -> dict[str, str]:
        """Variables that point boto3 and pycognito (and harness's metrics settings) at this stack.

        ``COGNITO_JWKS`` holds the pool's signing keys, fetched from moto: pycognito verifies
        tokens against it instead of fetching them from real AWS. ``jwks=False`` skips that
        fetch (no network: safe inside Locust's forked workers).
        """
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **_CREDENTIALS,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # Local metrics have 1-second resolution and are published within a second;
            # on AWS, API Gateway's are per minute and arrive a minute or two late.
            "HARNESS_METRICS_MIN_PERIOD": "1",
            "HARNESS_METRICS_DELAY": "2",
        }
        if self.lambda_function:
            env[LAMBDA_FUNCTION_ENV] = self.lambda_function
        if jwks:
            try:
                keys = http_get_json(f"{self.endpoint_url}/{self.user_pool_id}/.well-known/jwks.json", timeout=timeout)
            except (OSError, ValueError) as exc:
                raise LocalStackError(
                    f"could not read the user pool's JWKS from moto at {self.endpoint_url} ({exc}); "
                    "is the local stack still running? try `harness local status`"
                ) from exc
            env["COGNITO_JWKS"] = json.dumps(keys)
        return env


class LambdaBackend(BaseModel):
    """The API's backend as a Lambda function in moto (``harness.local.apigw.lambda_backend``).

    ``reserved_concurrency`` (``PutFunctionConcurrency``; None: none, the account's pool),
    ``latency_ms`` (the function sleeps that long per invocation, so concurrency builds up),
    ``timeout`` (the function's, seconds), ``routes`` (route keys sent to it; empty: all).
    """

    model_config = ConfigDict(extra="forbid")

    function_name: str = LAMBDA_FUNCTION_NAME
    reserved_concurrency: int | None = Field(default=None, ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    timeout: int = Field(default=10, ge=1, le=900)
    routes: list[str] = Field(default_factory=list)


class LocalStack:
    """moto + user pool + API Gateway emulator; everything it started is stopped on exit.

    ``throttle``, ``route_throttles`` and ``backend`` configure the emulator; ``lambda_backend``
    deploys a Lambda function and sends the API's routes to it; ``emulator`` sets
    any other ``EmulatorConfig`` field (``{"api_id": "x", "stage": "prod"}``); its
    ``"authorizer"`` entry adds to the Cognito authorizer (``{"route_scopes": {...}}``) or, as
    None, leaves the API without one. ``detach``
    starts processes that outlive this one (used by ``local_up``).
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        log_dir: Path | str | None = None,
        throttle: Throttle | None = None,
        route_throttles: dict[str, Throttle] | None = None,
        backend: BackendConfig | None = None,
        emulator: dict[str, Any] | None = None,
        lambda_backend: LambdaBackend | None = None,
        start_timeout: float = 30.0,
        detach: bool = False,
    ) -> None:
        self.region = region
        self.lambda_backend = lambda_backend
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="harness-local-"))
        self.overrides: dict[str, Any] = dict(emulator or {})
        if throttle is not None:
            self.overrides["throttle"] = throttle
        if route_throttles is not None:
            self.overrides["route_throttles"] = route_throttles
        if backend is not None:
            self.overrides["backend"] = backend
        self.start_timeout = start_timeout
        self.detach = detach
        self.moto: MotoServer | None = None
        self.emulator: subprocess.Popen[bytes] | None = None
        self.emulator_config: EmulatorConfig | None = None
        self._info: LocalStackInfo | None = None
        self._env: dict[str, str] | None = None

    @classmethod
    def for_scenario(cls, settings: Any, **kwargs: Any) -> LocalStack:
        """A stack set up as a scenario's ``[local]`` section (``LocalSettings``) says."""
        return cls(**settings_of(settings), **kwargs)

    @property
    def info(self) -> LocalStackInfo:
        if self._info is None:
            raise LocalStackError("the local stack has not been started; call start() or use it in a with block")
        return self._info

    def start(self) -> LocalStackInfo:
        """Start moto, create the pool and client, start the emulator; stop all on failure."""
        if self._info is not None:
            return self._info
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> LocalStackInfo:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.moto = MotoServer(log_path=self.log_dir / "moto.log", start_timeout=self.start_timeout, detach=self.detach).start()
        moto_url = self.moto.url
        pool_id, client_id = _create_user_pool(moto_url, self.region)

        overrides = dict(self.overrides)
        authorizer_overrides = overrides.pop("authorizer", {})
        base = EmulatorConfig(**overrides)
        authorizer = None
        if authorizer_overrides is not None:  # {"authorizer": None} runs the API without one
            authorizer = AuthorizerConfig(
                **{
                    "user_pool_id": pool_id,
                    "region": self.region,
                    "jwks_url": f"{moto_url}/{pool_id}/.well-known/jwks.json",
                    "audience": [client_id],
                    **dict(authorizer_overrides),
                }
            )
        metrics = base.metrics.model_copy(update={"endpoint_url": moto_url, "region": self.region})
        function = None
        if self.lambda_backend is not None:
            function = _deploy_lambda_backend(moto_url, self.region, self.lambda_backend)
            integration = LambdaIntegration(function_name=function, routes=list(self.lambda_backend.routes), endpoint_url=moto_url, region=self.region)
            base = base.model_copy(update={"lambda_integration": integration})
        self.emulator, self.emulator_config = self._start_emulator(base, authorizer, metrics, moto_url)
        config = self.emulator_config
        self._info = LocalStackInfo(
            endpoint_url=moto_url,
            api_url=f"http://{config.host}:{config.port}",
            region=self.region,
            user_pool_id=pool_id,
            client_id=client_id,
            api_id=config.api_id,
            stage=config.stage,
            pids={"moto": self.moto.pid or 0, "emulator": self.emulator.pid},
            log_dir=str(self.log_dir),
            lambda_function=function,
        )
        return self._info

    def _start_emulator(
        self, base: EmulatorConfig, authorizer: AuthorizerConfig | None, metrics: MetricsConfig, moto_url: str
    ) -> tuple[subprocess.Popen[bytes], EmulatorConfig]:
        """Write the config with a free port and start the emulator (retries on a port clash)."""
        log_path = self.log_dir / "apigw.log"
        config_path = self.log_dir / "apigw.json"
        env = {
            **os.environ,
            **_CREDENTIALS,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "PYTHONUNBUFFERED": "1",
        }

        def config_for(port: int) -> EmulatorConfig:
            return base.model_copy(update={"port": port, "authorizer": authorizer, "metrics": metrics})

        def launch(port: int) -> subprocess.Popen[bytes]:
            config_path.write_text(config_for(port).model_dump_json(indent=2))
            args = [sys.executable, "-m", _EMULATOR_MODULE, "--config-file", str(config_path)]
            if not self.detach:
                args += ["--exit-with-parent", str(os.getpid())]
            return start_process(args, log_path=log_path, env=env, detach=self.detach)

        proc, port = start_on_free_port(
            "API Gateway emulator",
            base.host,
            base.port,
            launch,
            lambda port: http_ok(f"http://{base.host}:{port}/_admin/health", timeout=1.0),
            timeout=self.start_timeout,
            log_path=log_path,
        )
        return proc, config_for(port)

    def env(self) -> dict[str, str]:
        """See ``LocalStackInfo.env``; fetched once per stack."""
        if self._env is None:
            self._env = self.info.env()
        return dict(self._env)

    @contextlib.contextmanager
    def activate(self) -> Iterator[dict[str, str]]:
        """Point this process (and children it starts) at the stack, then restore the
        environment: boto3's endpoint and credentials, and ``HARNESS_LOCAL_INFO`` so that
        scenarios naming ``local`` resolve to this stack. Yields the variables it set."""
        env = {**self.env(), "HARNESS_LOCAL_INFO": self.info.model_dump_json()}
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def stop(self) -> None:
        """Stop the emulator, then moto; safe to call twice."""
        if self.emulator is not None:
            stop_process(self.emulator)
            self.emulator = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self._info = None
        self._env = None

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _local_session(region: str) -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )


def lambda_backend_zip() -> bytes:
    """The backend function's code: ``lambda_backend.py`` alone in a zip."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(lambda_backend.__file__, "lambda_backend.py")
    return buf.getvalue()


def _deploy_lambda_backend(moto_url: str, region: str, spec: LambdaBackend) -> str:
    """Create the backend function in moto (role, code, environment, reserved concurrency)."""
    aws = AwsContext(region=region, endpoint_url=moto_url, session=_local_session(region))
    trust = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    )
    role = aws.client("iam").create_role(RoleName=f"{spec.function_name}-role", AssumeRolePolicyDocument=trust)
    logs = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [  # what AWSLambdaBasicExecutionRole grants
                {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}
            ],
        }
    )
    aws.client("iam").put_role_policy(RoleName=role["Role"]["RoleName"], PolicyName="logs", PolicyDocument=logs)
    lam = aws.client("lambda")
    lam.create_function(
        FunctionName=spec.function_name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler=lambda_backend.HANDLER,
        Code={"ZipFile": lambda_backend_zip()},
        Timeout=spec.timeout,
        MemorySize=128,
        Environment={"Variables": {lambda_backend.LATENCY_ENV: f"{spec.latency_ms:g}"}},
    )
    if spec.reserved_concurrency is not None:
        lam.put_function_concurrency(FunctionName=spec.function_name, ReservedConcurrentExecutions=spec.reserved_concurrency)
    return spec.function_name


def _create_user_pool(moto_url: str, region: str) -> tuple[str, str]:
    """Create pool ``harness-local`` and an app client without secret; (pool id, client id)."""
    cognito = AwsContext(region=region, endpoint_url=moto_url, session=_local_session(region)).client("cognito-idp")
    pool = cognito.create_user_pool(PoolName=USER_POOL_NAME)["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=USER_POOL_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=EXPLICIT_AUTH_FLOWS,
    )["UserPoolClient"]
    return pool["Id"], client["ClientId"]


# --------------------------------------------------------------------------- state file


def state_dir() -> Path:
    """``$HARNESS_STATE_DIR``, else ``./.harness``."""
    return Path(os.environ.get("HARNESS_STATE_DIR") or Path.cwd() / ".harness")


def state_file() -> Path:
    return state_dir() / "local.json"


def _read_state() -> LocalStackInfo | None:
    path = state_file()
    try:
        return LocalStackInfo.model_validate_json(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise LocalStackError(f"{path} is not a local stack state file ({exc}); delete it and run `harness local up`") from exc


def _health(info: LocalStackInfo) -> dict[str, dict[str, Any]]:
    checks = {"moto": f"{info.endpoint_url}/_harness/health", "emulator": f"{info.api_url}/_admin/health"}
    out = {}
    for name, url in checks.items():
        pid = info.pids.get(name)
        alive = bool(pid) and pid_alive(pid)  # type: ignore[arg-type]
        healthy = alive and http_ok(url, timeout=2.0)
        out[name] = {"pid": pid, "alive": alive, "healthy": healthy, "url": url}
    return out


@contextlib.contextmanager
def stack_for(settings: Any = None, *, starting: Callable[[], Any] | None = None) -> Iterator[dict[str, str]]:
    """A local stack for one command or process, set up as a scenario's ``[local]`` section
    (``LocalSettings``, None: the defaults) says, with this process pointed at it; stopped (and
    the environment restored) on the way out. Yields the variables it set. ``starting()``: a
    context manager shown while it starts (a spinner). Used by ``harness run --local``,
    ``harness fanout --local`` and ``locust ... --local``::

        with stack_for(scenario.local) as env:
            ...                                   # boto3 and "local" targets reach it
    """
    stack = LocalStack.for_scenario(settings) if settings is not None else LocalStack()
    try:
        with starting() if starting is not None else contextlib.nullcontext():
            stack.start()
        with stack.activate() as env:
            yield env
    finally:
        stack.stop()


def settings_of(settings: Any) -> dict[str, Any]:
    """``LocalStack`` arguments from a scenario's ``[local]`` section (``LocalSettings``):
    stage throttling (the emulator's default when it sets none), the mock backend, and the
    Lambda integration when it asks for one."""
    throttle = Throttle(rate=settings.throttle_rate, burst=settings.throttle_burst) if settings.throttle_rate else EmulatorConfig().throttle
    backend = BackendConfig(latency_ms=settings.latency_ms, latency_sigma=settings.latency_sigma, error_rate=settings.error_rate)
    function = None
    if settings.integration == "lambda":
        function = LambdaBackend(
            reserved_concurrency=settings.lambda_reserved_concurrency,
            latency_ms=settings.lambda_latency_ms or 0.0,
            timeout=settings.lambda_timeout or 10,
        )
    return {"throttle": throttle, "backend": backend, "lambda_backend": function}


_BACKEND_FIELDS = ("latency_ms", "latency_sigma", "error_rate")
_UNSET: Any = object()  # "not asked for", where None has a meaning (no Lambda integration)


def _running_config(info: LocalStackInfo) -> EmulatorConfig:
    """The running emulator's configuration now (``GET /_admin/config``)."""
    try:
        return EmulatorConfig.model_validate(http_get_json(f"{info.api_url}/_admin/config", timeout=5.0))
    except (OSError, ValueError) as exc:
        raise LocalStackError(f"could not read the local stack's settings at {info.api_url} ({exc}); try `harness local status`") from None


def _throttle_text(throttle: Throttle) -> str:
    return f"throttle {throttle.rate:g} rps, burst {throttle.burst}"


def _integration_text(lambda_integration: bool) -> str:
    return "routes sent to a Lambda function" if lambda_integration else "the mock backend"


def local_differences(
    config: EmulatorConfig,
    *,
    throttle: Throttle | None = None,
    backend: dict[str, float] | None = None,
    lambda_integration: bool | None = None,
) -> list[str]:
    """How the wanted settings differ from a running emulator's ``config``, one phrase each
    ("throttle 5 rps, burst 5 where the running stack has throttle 10000 rps, burst 5000"); None: not wanted."""
    out = []
    if throttle is not None and (throttle.rate, throttle.burst) != (config.throttle.rate, config.throttle.burst):
        out.append(f"{_throttle_text(throttle)} where the running stack has {_throttle_text(config.throttle)}")
    for field, value in (backend or {}).items():
        if getattr(config.backend, field) != value:
            out.append(f"backend {field} {value:g} where the running stack has {getattr(config.backend, field):g}")
    if lambda_integration is not None and lambda_integration != (config.lambda_integration is not None):
        out.append(f"{_integration_text(lambda_integration)} where the running stack has {_integration_text(not lambda_integration)}")
    return out


def apply_local_settings(
    info: LocalStackInfo,
    *,
    throttle: Throttle | None = None,
    route_throttles: dict[str, Throttle] | None = None,
    backend: BackendConfig | None = None,
    lambda_backend: LambdaBackend | None = _UNSET,
) -> list[str]:
    """Set a running stack up as asked, through the emulator's admin API: stage and route
    throttling and the mock backend change at run time; the changes made, one phrase each.
    What cannot change at run time (the Lambda integration) is refused, naming the difference,
    before anything changes. ``None`` (for ``lambda_backend``: left out): leave it as it is."""
    from harness.faults.kinds import _http_json

    config = _running_config(info)
    wanted_backend = {f: getattr(backend, f) for f in _BACKEND_FIELDS} if backend is not None else None
    fixed = local_differences(config, lambda_integration=None if lambda_backend is _UNSET else lambda_backend is not None)
    if fixed:
        raise LocalStackError(f"a running local stack cannot change this: {'; '.join(fixed)}; stop it with `harness local down`, then start it anew")
    changes = local_differences(config, throttle=throttle, backend=wanted_backend)
    routes_change = route_throttles is not None and route_throttles != config.route_throttles
    calls: list[tuple[str, dict[str, Any]]] = []
    if throttle is not None or routes_change:
        body: dict[str, Any] = {"throttle": throttle.model_dump(mode="json")} if throttle is not None else {}
        if routes_change:
            body["route_throttles"] = {k: v.model_dump(mode="json") for k, v in (route_throttles or {}).items()}
            changes.append(f"route throttles {sorted(body['route_throttles'])}")
        calls.append(("throttle", body))
    if wanted_backend:
        calls.append(("backend", wanted_backend))
    for path, body in calls if changes else []:
        status, payload = _http_json("PUT", f"{info.api_url}/_admin/{path}", body)
        if status != 200:
            raise LocalStackError(f"the local stack refused the new {path} settings (HTTP {status}: {payload}); try `harness local down` and `local up`")
    return changes


def scenario_differences(settings: Any, info: LocalStackInfo) -> list[str]:
    """How a scenario's ``[local]`` table (``LocalSettings``) differs from the running stack,
    for the fields it sets (a field it leaves out is not compared)."""
    given = settings.model_fields_set
    throttle = Throttle(rate=settings.throttle_rate, burst=settings.throttle_burst) if settings.throttle_rate and "throttle_rate" in given else None
    backend = {f: getattr(settings, f) for f in _BACKEND_FIELDS if f in given}
    lambda_integration = settings.integration == "lambda" if "integration" in given else None
    if throttle is None and not backend and lambda_integration is None:
        return []
    return local_differences(_running_config(info), throttle=throttle, backend=backend, lambda_integration=lambda_integration)


def local_up(
    *,
    region: str = "us-east-1",
    throttle: Throttle | None = None,
    route_throttles: dict[str, Throttle] | None = None,
    backend: BackendConfig | None = None,
    emulator: dict[str, Any] | None = None,
    lambda_backend: LambdaBackend | None = _UNSET,
    start_timeout: float = 30.0,
    on_change: Callable[[str], None] | None = None,
) -> LocalStackInfo:
    """Start a detached local stack and record it. When a healthy one runs already, it is
    returned, set up as asked (``apply_local_settings``; ``on_change`` hears each change made)."""
    status = local_status()
    if status is not None:
        if status["healthy"]:
            info = LocalStackInfo.model_validate(status["info"])
            if emulator:
                raise LocalStackError("a local stack is already running; emulator settings apply to a new one: `harness local down` first")
            for change in apply_local_settings(info, throttle=throttle, route_throttles=route_throttles, backend=backend, lambda_backend=lambda_backend):
                if on_change is not None:
                    on_change(change)
            return info
        local_down()  # stale: clean it up before starting afresh
    log_dir = state_dir() / "logs"
    if log_dir.exists():
        shutil.rmtree(log_dir, ignore_errors=True)
    stack = LocalStack(
        region=region,
        log_dir=log_dir,
        throttle=throttle,
        route_throttles=route_throttles,
        backend=backend,
        emulator=emulator,
        lambda_backend=None if lambda_backend is _UNSET else lambda_backend,
        start_timeout=start_timeout,
        detach=True,
    )
    info = stack.start()  # stops what it started if it fails
    record_local(info)
    _detached.extend(p for p in (stack.emulator, stack.moto.process if stack.moto else None) if p)
    return info


def record_local(info: LocalStackInfo) -> None:
    """Record a running stack in the state file, where ``load_local_info`` and
    ``local_status`` find it (``harness local up``, and ``local run`` while it runs)."""
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(info.model_dump_json(indent=2))


def forget_local(info: LocalStackInfo) -> None:
    """Remove the state file if it still records ``info`` (a foreground stack that stops)."""
    try:
        recorded = _read_state()
    except LocalStackError:
        return  # not ours to judge: someone else wrote it
    if recorded is not None and recorded.pids == info.pids:
        state_file().unlink(missing_ok=True)


def local_status() -> dict[str, Any] | None:
    """None when no state file exists; else the info and each process's liveness and health."""
    info = _read_state()
    if info is None:
        return None
    processes = _health(info)
    return {
        "info": info.model_dump(),
        "state_file": str(state_file()),
        **processes,
        "healthy": all(p["healthy"] for p in processes.values()),
    }


def local_down() -> bool:
    """Stop the recorded stack's processes and remove the state file; False if none was recorded."""
    info = _read_state()
    if info is None:
        return False
    gone = [stop_pid(pid, expect=module) for name, module in (("emulator", _EMULATOR_MODULE), ("moto", _MOTO_MODULE)) if (pid := info.pids.get(name))]
    if not all(gone):
        raise LocalStackError(f"could not stop the local stack's processes {info.pids}; kill them by pid")
    state_file().unlink(missing_ok=True)
    return True


def load_local_info() -> LocalStackInfo:
    """The running local stack's info; ``LocalStackError`` if none is running.

    ``HARNESS_LOCAL_INFO`` (the info as JSON, set by ``harness run --local`` for its Locust
    child) beats the state file written by ``harness local up``.
    """
    inline = os.environ.get("HARNESS_LOCAL_INFO")
    info = LocalStackInfo.model_validate_json(inline) if inline else _read_state()
    if info is None:
        raise LocalStackError(_NOT_RUNNING)
    dead = [name for name, pid in info.pids.items() if not pid_alive(pid)]
    if dead:
        raise LocalStackError(
            f"the local stack in {state_file()} is not running any more ({', '.join(dead)} exited); "
            "restart it with `harness local down` then `harness local up`"
        )
    return info


# Popen objects of detached processes, kept so Python does not warn that they still run.
_detached: list[subprocess.Popen[bytes]] = []
