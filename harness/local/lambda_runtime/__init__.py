"""A local Lambda runtime behind moto's ``Invoke``: handler code runs in a subprocess.

moto runs function code only in Docker; with ``{"lambda": {"use_docker": False}}`` it echoes the
payload instead. ``install()`` (called in the server process by ``python -m harness.local.moto``)
makes every invocation run the deployed function:

- **Code.** moto keeps the zip in ``LambdaFunction.code_bytes`` (for ``ZipFile``, ``S3Bucket``/
  ``S3Key`` and CloudFormation alike). It is extracted once per SHA-256 into the code directory
  (``code_dir``: argument > ``HARNESS_LOCAL_LAMBDA_CODE_DIR`` > a temporary directory removed at
  exit), which is the handler's working directory and first on ``sys.path``, like ``/var/task``.
- **Interpreter.** An execution environment is a ``sys.executable`` running ``lambda_child.py``
  that imports the handler once (the init phase, ``Init Duration`` in the first REPORT line) and
  then answers invocations one at a time; between them its process group is frozen (SIGSTOP), as
  Lambda freezes an environment, and an idle one is ended after ``keep_warm`` seconds (argument >
  ``HARNESS_LOCAL_LAMBDA_KEEP_WARM`` > 120; 0: a cold start every time). Concurrent invocations get
  environments of their own; new code, configuration or credentials get new ones; a timeout, a
  crash or a failed init ends its environment (Lambda resets it), an error answer does not.
  Third-party packages come from this
  interpreter, the project's venv, and not from Linux wheels in the zip: locally a worker uses the
  project's own installed packages. Pure-Python packages in the zip still win (first on sys.path).
- **Environment.** The function's variables, then what Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``,
  ``..._MEMORY_SIZE``, ``..._TIMEOUT``, ``AWS_REGION``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``...), the
  execution role's temporary credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_SESSION_TOKEN`` of moto's ``sts:AssumeRole``, session name = the function's name, as
  Lambda does; reused for 50 of their 60 minutes) and ``AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT``,
  so boto3 in the handler talks to this server as the role, and ``harness.local.iam`` allows or
  refuses each call by the role's policies. Of the server's own environment only PATH, HOME, TMPDIR, the locale and
  LD_LIBRARY_PATH are passed on (no PYTHONPATH, no AWS_PROFILE, no endpoints).
- **Result and log.** The event goes in on a control pipe; the result comes back on a pipe of its
  own, so prints and logging never corrupt it. stdout/stderr are the function's log: CloudWatch Logs
  ``/aws/lambda/<name>`` (START/END/REPORT lines as on Lambda, one stream per environment), the
  server log (its tail), and with ``LogType=Tail`` the last 4 KB in ``x-amz-log-result``.
- **Errors** as Lambda reports them, HTTP 200 with ``X-Amz-Function-Error: Unhandled``: an uncaught
  exception gives ``{"errorMessage", "errorType", "requestId", "stackTrace"}``; past ``Timeout`` the
  environment's process group is killed and the error is ``Sandbox.Timedout``; a process that dies without an
  answer gives ``Runtime.ExitError``. moto's Step Functions use ``errorType`` as the error name,
  so an ASL's ``Retry``/``Catch`` match it. A handler process also dies with the server.
- **Concurrency.** Reserved concurrency (``PutFunctionConcurrency``; 0 throttles everything) and
  the account limit shared by the functions without a reservation (``concurrency``: argument >
  ``HARNESS_LOCAL_LAMBDA_CONCURRENCY`` > 1000, minus the reservations) answer HTTP 429
  ``TooManyRequestsException`` with Lambda's ``Reason``; Step Functions see
  ``Lambda.TooManyRequestsException``. Memory is reported (``Max Memory Used``), not enforced.
  ``GetAccountSettings`` (which moto does not serve) answers that account limit and what the
  reservations leave unreserved, as ``harness fanout`` asks it before a run.
- **Metrics** into moto's CloudWatch, namespace ``AWS/Lambda``, dimension ``FunctionName``,
  aggregated per second (stamped with the second the invocation started) and published every
  second: Invocations, Errors, Throttles (Sum), Duration (ms, percentiles), ConcurrentExecutions
  (Maximum; also account-wide, without dimensions).
- ``InvocationType=Event`` runs in a background thread and answers 202 (a throttled event is
  retried for up to 5 minutes, a failed one is not retried); ``DryRun`` answers 204. Calls that moto makes itself (S3
  notifications, SQS event sources...) carry no invocation type and run synchronously, as in moto.

One module per concern:

=================  ===================================================================
``hook``           ``install()``: the moto patches, one runtime per process
``runtime``        ``LambdaRuntime``: one invocation from moto's call to its answer
``function``       what an invocation reads of a moto function
``code_cache``     zips extracted once per SHA-256
``pool``           warm environments: reused, frozen between invocations, ended when idle
``process``        one environment, a subprocess (``lambda_child.py``), and an invocation's outcome
``watchdog``       the init and handler time limits, the process group's kill
``role``           the execution role's credentials and log permission
``limits``         reserved and account concurrency, the 429
``metrics``        ``AWS/Lambda`` metrics into moto's CloudWatch
``logs``           CloudWatch Logs, the server log, the ``Tail``
``account``        ``GetAccountSettings``
=================  ===================================================================

    from harness.local.lambda_runtime import install
    install()                    # before the moto server handles its first request
    install(concurrency=50)      # or: HARNESS_LOCAL_LAMBDA_CONCURRENCY=50
"""

from harness.local.lambda_runtime.code_cache import CODE_DIR_ENV
from harness.local.lambda_runtime.hook import install
from harness.local.lambda_runtime.limits import CONCURRENCY_ENV, TooManyRequestsException, concurrency_default
from harness.local.lambda_runtime.pool import KEEP_WARM_ENV
from harness.local.lambda_runtime.runtime import LambdaRuntime

__all__ = [
    "CODE_DIR_ENV",
    "CONCURRENCY_ENV",
    "KEEP_WARM_ENV",
    "LambdaRuntime",
    "TooManyRequestsException",
    "concurrency_default",
    "install",
]
