"""How each fault kind is applied and put back.

Every kind is an ``Action`` with three steps: ``check()`` before any load (raises a one-line
``FaultError`` naming the missing template, function, stage or IAM action), ``start(until)``
when its window opens (returns what it changed, for the results), ``stop()`` when it ends, on
any stop of the run, or on a crash (puts back exactly what was there)::

    actions = build_actions(scenario, target=target, aws=AwsContext(region=target.region))
    for action in actions:
        action.check()
    details = actions[0].start(until=time.time() + 10)
    actions[0].stop()

- ``latency``, ``errors``, ``outage``, ``throttle``: the local API Gateway emulator's admin API
  (``POST /_admin/faults`` with the window's end, ``DELETE /_admin/faults/<id>``). The emulator
  ends a fault by itself at its end, so even a killed run cannot leave one behind.
- ``cognito_throttle``: the local moto server's ``/_harness/faults/cognito`` switch (sign-in and
  refresh calls answered with TooManyRequestsException), also self-expiring.
- ``lambda_concurrency``: ``PutFunctionConcurrency``, then the previous reserved concurrency
  again (or ``DeleteFunctionConcurrency`` when there was none). Local and AWS.
- ``fis``: AWS FIS ``StartExperiment`` from a template, ``StopExperiment`` at the end.
- ``stage_throttle``: API Gateway ``UpdateStage`` (REST: the ``*/*`` method settings; HTTP
  APIs: the stage's default route settings), then the previous values.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.errors import FaultError
from harness.faults.expiry import Restore
from harness.scenario import Scenario

__all__ = ["Action", "build_actions", "EMULATOR_KINDS", "AWS_KINDS"]

log = logging.getLogger("harness.faults")

EMULATOR_KINDS = {"latency": "latency", "errors": "error", "outage": "outage", "throttle": "throttle"}
"""Scenario kind -> the emulator's fault kind."""

AWS_KINDS = frozenset({"stage_throttle", "lambda_concurrency", "fis"})
"""Kinds applied through an AWS API (their actions' ``through_aws``): each gets an expiry schedule."""

_HTTP_TIMEOUT = 5.0


class Action:
    """One scheduled fault's way of being applied and put back."""

    through_aws = False
    """Applied through an AWS API (put back by an expiry schedule too, should harness die)."""

    def __init__(self, spec: Any, index: int) -> None:
        self.spec = spec
        self.index = index
        self.where = f"faults[{index}]"
        # the AWS call that puts back what start() changed (AWS kinds, once started; None when
        # there is nothing to put back): what stop() makes, and what an expiry schedule and
        # ``harness faults restore`` make when harness cannot
        self.restore: Restore | None = None

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def check(self) -> None:
        """Before any load: raise ``FaultError`` if the fault could not be applied."""

    def start(self, until: float) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def window(self) -> tuple[float | None, float | None]:
        """The fault's actual start and end as the service recorded them (epoch s), where it
        records them (FIS actions); ``(None, None)``: the scheduler's own clock is the record."""
        return (None, None)

    def _error(self, text: str) -> FaultError:
        return FaultError(f"{self.where} ({self.spec.label!r}): {text}")


# ---------------------------------------------------------------------------------- local stack


def _http_json(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """A JSON call to one of our local servers: (status, decoded body); OSError if unreachable."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT) as resp:  # 127.0.0.1
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"null")
        except ValueError:
            payload = None
        return exc.code, payload


def _message(payload: Any) -> str:
    return str(payload.get("message")) if isinstance(payload, dict) and payload.get("message") else "no reason given"


class _WindowAction(Action):
    """A fault a local server holds as a window (start, end): POST it, DELETE it by id."""

    base: str  # the collection URL (``.../_admin/faults``)
    server: str  # its name, for messages

    def __init__(self, spec: Any, index: int) -> None:
        super().__init__(spec, index)
        self.fault_id: str | None = None

    def body(self, start: float, end: float) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def start(self, until: float) -> dict[str, Any]:
        now = time.time()
        try:
            status, payload = _http_json("POST", self.base, self.body(now, max(until, now + 0.001)))
        except OSError as exc:
            raise self._error(f"could not reach the {self.server} at {self.base} ({exc}); is the local stack still running?") from None
        if status != 201 or not isinstance(payload, dict) or "fault" not in payload:
            raise self._error(f"the {self.server} refused it (HTTP {status}: {_message(payload)})")
        self.fault_id = str(payload["fault"]["id"])
        return {"id": self.fault_id}

    def stop(self) -> None:
        if self.fault_id is None:
            return
        url = f"{self.base}/{urllib.parse.quote(self.fault_id, safe='')}"
        try:
            status, payload = _http_json("DELETE", url)
        except OSError as exc:
            # the server holds the window's end: the fault still ends by itself
            raise self._error(f"could not reach the {self.server} to end it ({exc}); it ends by itself at its scheduled end") from None
        if status not in (200, 404):  # 404: the server no longer has it (restarted): nothing to put back
            raise self._error(f"the {self.server} did not end it (HTTP {status}: {_message(payload)})")
        self.fault_id = None


class EmulatorAction(_WindowAction):
    """``latency``, ``errors``, ``outage`` and ``throttle`` on the local API Gateway emulator."""

    server = "API Gateway emulator"

    def __init__(self, spec: Any, index: int, *, admin_url: str) -> None:
        super().__init__(spec, index)
        self.admin_url = admin_url.rstrip("/")
        self.base = f"{self.admin_url}/faults"

    def describe(self) -> str:
        spec = self.spec
        where = f" on {spec.route}" if spec.route else ""
        if spec.kind == "latency":
            return f"add {spec.latency * 1000:g} ms to every answer{where}"
        if spec.kind == "errors":
            return f"answer {spec.share:.0%} of requests{where} with {spec.status}"
        if spec.kind == "outage":
            return f"drop every connection{where}" if spec.mode == "drop" else f"answer every request{where} with {spec.status}"
        return f"throttle{where or ' the stage'} to {spec.rate:g} rps, burst {spec.burst}"

    def body(self, start: float, end: float) -> dict[str, Any]:
        spec = self.spec
        body: dict[str, Any] = {"kind": EMULATOR_KINDS[spec.kind], "start": start, "end": end, "routes": [spec.route] if spec.route else []}
        if spec.kind == "latency":
            body["extra_ms"] = spec.latency * 1000.0
        elif spec.kind == "errors":
            body.update(rate=spec.share, status=spec.status)
        elif spec.kind == "outage":
            body.update(status=spec.status, drop=spec.mode == "drop")
        else:
            body["throttle"] = {"rate": spec.rate, "burst": spec.burst}
        return body

    def check(self) -> None:
        try:
            status, payload = _http_json("GET", f"{self.admin_url}/health")
        except OSError as exc:
            raise self._error(f"the API Gateway emulator's admin API at {self.admin_url} does not answer ({exc}); start the local stack (--local)") from None
        routes = payload.get("routes") if status == 200 and isinstance(payload, dict) else None
        if routes is not None and self.spec.route and self.spec.route not in routes:
            raise self._error(f"route: the emulator has no route {self.spec.route!r}; use one of: {', '.join(routes)}")


class CognitoThrottleAction(_WindowAction):
    """``cognito_throttle`` on the local moto server."""

    server = "local moto server"

    def __init__(self, spec: Any, index: int, *, moto_url: str) -> None:
        super().__init__(spec, index)
        self.base = f"{moto_url.rstrip('/')}/_harness/faults/cognito"

    def describe(self) -> str:
        return "answer Cognito sign-in and refresh calls with TooManyRequestsException"

    def body(self, start: float, end: float) -> dict[str, Any]:
        return {"start": start, "end": end}

    def check(self) -> None:
        try:
            status, payload = _http_json("GET", self.base)
        except OSError as exc:
            raise self._error(f"the local moto server at {self.base} does not answer ({exc}); start the local stack (--local)") from None
        if status != 200:
            raise self._error(f"the local moto server has no Cognito fault switch (HTTP {status}); restart the local stack with this harness version")


# ------------------------------------------------------------------------------------- AWS APIs


def _aws_error(action: Action, err: BaseException, *, service: str, doing: str, not_found: str) -> FaultError:
    from harness.auth.backoff import error_code
    from harness.auth.explain import explain

    if isinstance(err, ClientError) and error_code(err) in ("NotFoundException", "ResourceNotFoundException"):
        return action._error(f"{doing}: {not_found}")  # API Gateway says NotFound, FIS and Lambda ResourceNotFound
    problem = explain(err, doing=doing, service=service, not_found=not_found)
    return action._error(str(problem))


class LambdaConcurrencyAction(Action):
    """``lambda_concurrency``: PutFunctionConcurrency, then put back what was there."""

    through_aws = True

    _NONE = object()

    def __init__(self, spec: Any, index: int, *, client: Any, function: str) -> None:
        super().__init__(spec, index)
        self.client = client
        self.function = function
        self.previous: Any = self._NONE

    def describe(self) -> str:
        return f"set {self.function}'s reserved concurrency to {self.spec.reserved}"

    def _current(self, doing: str) -> int | None:
        try:
            answer = self.client.get_function_concurrency(FunctionName=self.function)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(
                self, err, service="lambda", doing=doing, not_found=f"function {self.function!r} not found; fix faults[{self.index}].function"
            ) from None
        value = answer.get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    def check(self) -> None:
        try:
            self.client.get_function(FunctionName=self.function)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(
                self, err, service="lambda", doing="checking its function", not_found=f"function {self.function!r} not found; fix faults[{self.index}].function"
            ) from None
        self._current("reading the function's reserved concurrency")

    def start(self, until: float) -> dict[str, Any]:
        previous = self._current("reading the function's reserved concurrency")
        try:
            self.client.put_function_concurrency(FunctionName=self.function, ReservedConcurrentExecutions=self.spec.reserved)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(self, err, service="lambda", doing="setting reserved concurrency", not_found=f"function {self.function!r} not found") from None
        self.previous = previous
        if previous is None:
            self.restore = Restore("lambda", "delete_function_concurrency", {"FunctionName": self.function})
        else:
            self.restore = Restore("lambda", "put_function_concurrency", {"FunctionName": self.function, "ReservedConcurrentExecutions": previous})
        return {"function": self.function, "previous_reserved": previous, "reserved": self.spec.reserved, "restore": self.restore.as_dict()}

    def stop(self) -> None:
        if self.previous is self._NONE or self.restore is None:
            return
        try:
            self.restore.call(self.client)
        except (ClientError, BotoCoreError) as err:
            was = "no reserved concurrency" if self.previous is None else f"reserved concurrency {self.previous}"
            raise _aws_error(
                self, err, service="lambda", doing=f"putting back {was} on {self.function} (do it by hand)", not_found=f"function {self.function!r} is gone"
            ) from None
        self.previous = self._NONE
        self.restore = None


class FisAction(Action):
    """``fis``: an AWS FIS experiment from a template, stopped at the end of the window.

    ``check()`` reads the template: each action's ``duration`` must cover the fault's window
    (else the experiment ends before it and the window records a fault that was not there),
    and the functions of the Lambda fault actions must carry the FIS Lambda extension (its
    layer, ``AWS_LAMBDA_EXEC_WRAPPER`` and ``AWS_FIS_CONFIGURATION_LOCATION``, see
    https://docs.aws.amazon.com/fis/latest/userguide/use-lambda-actions.html). ``start()``
    waits (at most ``start_timeout`` s) for the experiment's state ``running``: FIS starts it
    asynchronously and may fail it (a missing role permission, no targets), with a reason.
    The fault's actual window is its actions' own ``startTime``/``endTime`` (GetExperiment).
    """

    through_aws = True

    _DONE = {"completed", "stopped", "failed", "cancelled"}
    LAMBDA_ACTIONS = ("aws:lambda:invocation-add-delay", "aws:lambda:invocation-error", "aws:lambda:invocation-http-integration-response")
    EXEC_WRAPPER = "/opt/aws-fis/bootstrap"  # the extension's wrapper script, as the FIS docs give it
    start_timeout = 60.0
    stop_timeout = 60.0
    poll_every = 1.0

    def __init__(self, spec: Any, index: int, *, client: Any, run_id: str, lambda_client: Any = None) -> None:
        super().__init__(spec, index)
        self.client = client
        self.lambda_client = lambda_client
        self.run_id = run_id
        self.experiment_id: str | None = None
        self.actual: tuple[float | None, float | None] = (None, None)

    def describe(self) -> str:
        return f"run the AWS FIS experiment template {self.spec.template}"

    def _fis(self, doing: str, call: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, call)(**kwargs)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(
                self,
                err,
                service="fis",
                doing=doing,
                not_found=f"FIS experiment template {self.spec.template!r} does not exist in this region; fix faults[{self.index}].template",
            ) from None

    def check(self) -> None:
        template = self._fis("checking its FIS experiment template", "get_experiment_template", id=self.spec.template)["experimentTemplate"]
        targets = template.get("targets") or {}
        for name, action in sorted((template.get("actions") or {}).items()):
            duration = (action.get("parameters") or {}).get("duration")
            if duration is not None:
                seconds = _iso_seconds(duration)
                if seconds is None:
                    raise self._error(f"template {self.spec.template} action {name!r} has a duration {duration!r} that is not an ISO 8601 duration (PT5M)")
                if seconds < self.spec.duration:
                    raise self._error(
                        f"template {self.spec.template} action {name!r} lasts {duration} ({seconds:g} s), less than the fault's {self.spec.duration:g} s window; "
                        f"set its duration to at least PT{math.ceil(self.spec.duration)}S (harness stops it at the window's end) or shorten faults[{self.index}].duration"
                    )
            if action.get("actionId") in self.LAMBDA_ACTIONS:
                for key in sorted((action.get("targets") or {}).values()):
                    for function in self._functions(targets.get(key) or {}, name):
                        self._check_extension(function, name)

    def _functions(self, target: dict[str, Any], action: str) -> list[str]:
        arns = list(target.get("resourceArns") or [])
        if not arns:
            raise self._error(
                f"template {self.spec.template} action {action!r} picks its functions by tags or filters, which harness cannot check for the FIS Lambda extension; "
                "name them in the target's resourceArns"
            )
        return arns

    def _check_extension(self, function: str, action: str) -> None:
        if self.lambda_client is None:  # pragma: no cover - build_actions always passes one
            return
        try:
            config = self.lambda_client.get_function_configuration(FunctionName=function)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(
                self,
                err,
                service="lambda",
                doing=f"checking the target function of FIS action {action!r}",
                not_found=f"function {function} (a target of template {self.spec.template}) not found",
            ) from None
        name = config.get("FunctionName") or function
        layers = [str(layer.get("Arn", "")) for layer in config.get("Layers") or []]
        variables = (config.get("Environment") or {}).get("Variables") or {}
        fix = "see https://docs.aws.amazon.com/fis/latest/userguide/use-lambda-actions.html"
        if not any(":layer:aws-fis-extension-" in arn for arn in layers):
            raise self._error(
                f"function {name}, a target of FIS action {action!r}, has no AWS FIS Lambda extension layer (aws-fis-extension-<arch>): FIS would fail the experiment; add the layer ({fix})"
            )
        if variables.get("AWS_LAMBDA_EXEC_WRAPPER") != self.EXEC_WRAPPER:
            raise self._error(
                f"function {name}, a target of FIS action {action!r}, needs the environment variable AWS_LAMBDA_EXEC_WRAPPER={self.EXEC_WRAPPER} ({fix})"
            )
        if not _S3_LOCATION.match(str(variables.get("AWS_FIS_CONFIGURATION_LOCATION", ""))):
            raise self._error(
                f"function {name}, a target of FIS action {action!r}, needs AWS_FIS_CONFIGURATION_LOCATION set to the configuration bucket's ARN and prefix "
                f"(arn:aws:s3:::<bucket>/<prefix>/) ({fix})"
            )

    def _experiment(self, doing: str) -> dict[str, Any]:
        assert self.experiment_id is not None
        return dict(self._fis(doing, "get_experiment", id=self.experiment_id)["experiment"])

    def _window(self, experiment: dict[str, Any]) -> tuple[float | None, float | None]:
        """The actions' real start and end (epoch s): the first start, the last end."""
        actions = (experiment.get("actions") or {}).values()
        starts = [a["startTime"].timestamp() for a in actions if a.get("startTime")]
        ends = [a["endTime"].timestamp() for a in actions if a.get("endTime")]
        return (min(starts) if starts else None, max(ends) if ends else None)

    def window(self) -> tuple[float | None, float | None]:
        """The fault's actual window as FIS recorded it (None where not known)."""
        return self.actual

    def start(self, until: float) -> dict[str, Any]:
        answer = self._fis(
            "starting its FIS experiment",
            "start_experiment",
            experimentTemplateId=self.spec.template,
            clientToken=uuid.uuid4().hex,
            tags={"harness:run": self.run_id, "harness:fault": self.spec.label[:256]},
        )
        self.experiment_id = str(answer["experiment"]["id"])
        deadline = time.monotonic() + self.start_timeout
        while True:
            experiment = self._experiment(f"waiting for FIS experiment {self.experiment_id} to run")
            state = experiment.get("state") or {}
            status = state.get("status")
            if status == "running":
                break
            if status in self._DONE:
                self.experiment_id = None  # FIS ended it: nothing to stop
                reason = state.get("reason") or "FIS gave no reason"
                raise self._error(f"FIS experiment {experiment.get('id')} {status} before it ran: {reason}")
            if time.monotonic() > deadline:
                self.stop()
                raise self._error(f"FIS experiment did not reach state running within {self.start_timeout:g} s (still {status}); it was stopped")
            time.sleep(self.poll_every)
        self.actual = self._window(experiment)
        self.restore = Restore("fis", "stop_experiment", {"id": self.experiment_id})
        return {"template": self.spec.template, "experiment": self.experiment_id, "restore": self.restore.as_dict()}

    def stop(self) -> None:
        if self.experiment_id is None:
            return
        doing = f"stopping FIS experiment {self.experiment_id} (stop it by hand)"
        experiment = self._experiment(doing)
        if (experiment.get("state") or {}).get("status") not in self._DONE:
            self._fis(doing, "stop_experiment", id=self.experiment_id)
            deadline = time.monotonic() + self.stop_timeout  # its actions' end times are known once it has stopped
            while (experiment.get("state") or {}).get("status") not in self._DONE and time.monotonic() < deadline:
                time.sleep(self.poll_every)
                experiment = self._experiment(doing)
        start, end = self._window(experiment)
        self.actual = (start or self.actual[0], end)
        self.experiment_id = None
        self.restore = None
        state = experiment.get("state") or {}
        if state.get("status") == "failed":
            raise self._error(f"FIS experiment {experiment.get('id')} failed: {state.get('reason') or 'FIS gave no reason'}")


_S3_LOCATION = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
_ISO_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _iso_seconds(text: str) -> float | None:
    """An ISO 8601 duration as FIS writes them (``PT5M``, ``PT1H30M``, ``PT90S``) in seconds."""
    match = _ISO_DURATION.match(str(text).strip().upper())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


class StageThrottleAction(Action):
    """``stage_throttle``: lower a stage's default throttling with UpdateStage, then put back the
    old values.

    On AWS a stage's default limits apply to each method (REST: the ``*/*`` method settings) or
    each route (HTTP APIs: ``DefaultRouteSettings``) separately, and not at all to a method or
    route with throttling of its own; those are refused before the run, named. Only the two
    throttling fields are ever written (API Gateway refuses ``LoggingLevel`` and
    ``DataTraceEnabled`` for HTTP APIs), and a stage API Gateway manages (a quick-create
    ``$default`` stage, ``ApiGatewayManaged``) is refused: it cannot be updated.
    """

    through_aws = True

    def __init__(self, spec: Any, index: int, *, client: Any, api_kind: str, api_id: str, stage: str) -> None:
        super().__init__(spec, index)
        self.client = client
        self.api_kind = api_kind
        self.api_id = api_id
        self.stage = stage
        self.previous: dict[str, Any] | None = None

    def describe(self) -> str:
        unit = "method" if self.api_kind == "rest" else "route"
        return f"throttle stage {self.stage} of API {self.api_id} to {self.spec.rate:g} rps, burst {self.spec.burst}, per {unit}"

    def _not_found(self) -> str:
        return f"stage {self.stage!r} of API {self.api_id!r} not found; fix faults[{self.index}].api_id / stage"

    def _read(self, doing: str) -> dict[str, Any]:
        """The stage's default throttling now: {"rate": x|None, "burst": y|None, "exists": bool,
        "own": [methods/routes with throttling of their own], "managed": bool}
        (``exists``: a REST stage has ``*/*`` method settings; HTTP API stages always do)."""
        try:
            if self.api_kind == "rest":
                stage = self.client.get_stage(restApiId=self.api_id, stageName=self.stage)
                methods = stage.get("methodSettings") or {}
                own = sorted(k for k, v in methods.items() if k != "*/*" and _throttled(v, "throttlingRateLimit", "throttlingBurstLimit"))
                settings = methods.get("*/*")
                if settings is None:
                    return {"exists": False, "rate": None, "burst": None, "own": own, "managed": False}
                return {
                    "exists": True,
                    "rate": settings.get("throttlingRateLimit"),
                    "burst": settings.get("throttlingBurstLimit"),
                    "own": own,
                    "managed": False,
                }
            stage = self.client.get_stage(ApiId=self.api_id, StageName=self.stage)
            route = stage.get("DefaultRouteSettings") or {}
            own = sorted(k for k, v in (stage.get("RouteSettings") or {}).items() if _throttled(v, "ThrottlingRateLimit", "ThrottlingBurstLimit"))
            return {
                "exists": True, "rate": route.get("ThrottlingRateLimit"), "burst": route.get("ThrottlingBurstLimit"),
                "own": own, "managed": bool(stage.get("ApiGatewayManaged")),
            }  # fmt: skip
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(self, err, service="apigateway", doing=doing, not_found=self._not_found()) from None

    def check(self) -> None:
        now = self._read("checking its API Gateway stage")
        if now["managed"]:
            raise self._error(
                f"stage {self.stage!r} of HTTP API {self.api_id!r} is managed by API Gateway (quick create), which refuses UpdateStage; "
                "create a stage of your own (or an API with an explicit $default stage) and point the target at it"
            )
        if now["own"]:
            unit = "methods" if self.api_kind == "rest" else "routes"
            raise self._error(
                f"{unit} {', '.join(now['own'])} of stage {self.stage!r} have throttling of their own, which the stage's default limits do not change "
                f"(AWS applies them per {unit[:-1]}); remove their throttling settings or leave them out of this run"
            )
        if self.api_kind == "http" and (now["rate"] is None or now["burst"] is None):
            raise self._error(
                f"stage {self.stage!r} of HTTP API {self.api_id!r} has no default route throttling to put back afterwards "
                "(UpdateStage cannot unset it); set one on the stage first (e.g. the account's 10000 rps / 5000 burst)"
            )

    def _update(self, rate: Any, burst: Any, *, exists: bool = True) -> Restore:
        """The UpdateStage call that sets the stage's default throttling; a None value is removed
        (REST), and ``exists=False`` removes the ``*/*`` method settings altogether (there were
        none before). HTTP APIs: only ThrottlingRateLimit and ThrottlingBurstLimit are sent."""
        if self.api_kind == "rest":
            if not exists:
                ops = [{"op": "remove", "path": "/*/*"}]
            else:
                ops = [
                    {"op": "remove", "path": path} if value is None else {"op": "replace", "path": path, "value": _num(value)}
                    for path, value in zip(_REST_THROTTLING, (rate, burst))
                ]
            return Restore("apigateway", "update_stage", {"restApiId": self.api_id, "stageName": self.stage, "patchOperations": ops})
        route = {"ThrottlingRateLimit": float(rate), "ThrottlingBurstLimit": int(burst)}
        return Restore("apigatewayv2", "update_stage", {"ApiId": self.api_id, "StageName": self.stage, "DefaultRouteSettings": route})

    def _write(self, call: Restore, doing: str) -> None:
        try:
            call.call(self.client)
        except (ClientError, BotoCoreError) as err:
            raise _aws_error(self, err, service="apigateway", doing=doing, not_found=self._not_found()) from None

    def start(self, until: float) -> dict[str, Any]:
        previous = self._read("reading its stage's throttling")
        self._write(self._update(self.spec.rate, self.spec.burst), "lowering the stage's throttling")
        self.previous = previous
        self.restore = self._update(previous["rate"], previous["burst"], exists=previous["exists"])
        return {
            "api_kind": self.api_kind, "api_id": self.api_id, "stage": self.stage, "per": "method" if self.api_kind == "rest" else "route",
            "previous": {"rate": previous["rate"], "burst": previous["burst"], "exists": previous["exists"]},
            "restore": self.restore.as_dict(),
        }  # fmt: skip

    def stop(self) -> None:
        previous = self.previous
        if previous is None or self.restore is None:
            return
        was = f"rate {previous['rate']}, burst {previous['burst']}" if previous["exists"] else "no */* method settings"
        self._write(self.restore, f"putting back the stage's throttling ({was}; do it by hand)")
        self.previous = None
        self.restore = None


def _throttled(settings: Any, rate: str, burst: str) -> bool:
    """Whether a method's or route's own settings hold throttling limits."""
    return isinstance(settings, dict) and (settings.get(rate) is not None or settings.get(burst) is not None)


_REST_THROTTLING = ("/*/*/throttling/rateLimit", "/*/*/throttling/burstLimit")
"""A REST stage's default method throttling (its ``*/*`` method settings), rate then burst."""


def _num(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


# ---------------------------------------------------------------------------------- building


_EXECUTE_API = re.compile(r"^https://([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:/([^/?#]+))?")


def build_actions(scenario: Scenario, *, target: Any, aws: Any, run_id: str = "") -> list[Action]:
    """One ``Action`` per ``[[faults]]`` entry; refuses (``FaultError``) a fault whose
    function/API cannot be told, and (``ScenarioError``) a kind its target cannot take
    (``Scenario.check_fault_kinds``)."""
    scenario.check_fault_kinds()  # done by Scenario.load already; here for a scenario built in Python
    actions: list[Action] = []
    for index, spec in enumerate(scenario.faults):
        where = f"faults[{index}]"
        if spec.kind in EMULATOR_KINDS:
            actions.append(EmulatorAction(spec, index, admin_url=_admin_url(target.base_url)))
        elif spec.kind == "cognito_throttle":
            actions.append(CognitoThrottleAction(spec, index, moto_url=_moto_url(aws, where)))
        elif spec.kind == "lambda_concurrency":
            actions.append(LambdaConcurrencyAction(spec, index, client=aws.client("lambda"), function=_function(scenario, target, spec, where)))
        elif spec.kind == "fis":
            actions.append(FisAction(spec, index, client=aws.client("fis"), run_id=run_id, lambda_client=aws.client("lambda")))
        elif spec.kind == "stage_throttle":
            kind = scenario.target.api_kind
            api_id, stage = _stage(scenario, target, spec, where)
            actions.append(
                StageThrottleAction(
                    spec, index, client=aws.client("apigateway" if kind == "rest" else "apigatewayv2"), api_kind=kind, api_id=api_id, stage=stage
                )
            )
        else:  # pragma: no cover - the scenario's models list every kind
            raise FaultError(f"{where}.kind: {spec.kind!r} is not a fault kind")
    return actions


def _admin_url(base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/_admin"


def _moto_url(aws: Any, where: str) -> str:
    url = getattr(aws, "endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        raise FaultError(f'{where}.kind: "cognito_throttle" needs the local stack\'s moto server (AWS_ENDPOINT_URL is not set); run with --local')
    return str(url)


def _function(scenario: Scenario, target: Any, spec: Any, where: str) -> str:
    """The fault's function, else the only one the run watches (``target.lambda_functions``,
    plus the local stack's backend function when its API sends routes to Lambda)."""
    if spec.function:
        return str(spec.function)
    functions: Sequence[str] = getattr(target, "lambda_functions", None) or scenario.target.lambda_functions
    if len(functions) == 1:
        return functions[0]
    have = "none" if not functions else f"{len(functions)}: {', '.join(functions)}"
    raise FaultError(f'{where}.function: say which function to limit (target.lambda_functions has {have}); set function = "name"')


def _stage(scenario: Scenario, target: Any, spec: Any, where: str) -> tuple[str, str]:
    api_id = spec.api_id or getattr(target, "api_id", None)
    stage = spec.stage or getattr(target, "stage", None)
    match = _EXECUTE_API.match(scenario.target.base_url)
    if match:
        api_id = api_id or match.group(1)
        stage = stage or match.group(2) or ("$default" if scenario.target.api_kind == "http" else None)
    if not api_id or not stage:
        missing = "api_id" if not api_id else "stage"
        raise FaultError(f"{where}.{missing}: cannot tell the API Gateway {missing} from the target; set {missing} in the fault (or target.{missing})")
    return str(api_id), str(stage)
