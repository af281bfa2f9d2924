"""``harness users create | delete``."""

from __future__ import annotations

import argparse

from harness.cli.render import err
from harness.errors import UsageError
from harness.gates.verdict import EXIT_OK, EXIT_RUN_FAILED
from harness.options import check_number

__all__ = ["cmd_users"]


def cmd_users(args: argparse.Namespace) -> int:
    from harness.auth.users import DEFAULT_PREFIX, delete_users, ensure_test_users
    from harness.aws import AwsContext
    from harness.target import resolve_pool

    check_number("--count", args.count, minimum=1, integer=True)
    check_number("--rate", args.rate, minimum=0, inclusive=False)
    if args.action == "delete" and args.count is not None:
        raise UsageError(
            "users delete: --count is for create; delete removes every <prefix>N user of the pool (and then the password secret); pick the users with --prefix"
        )
    pool, count, prefix, region = args.user_pool_id, args.count, args.prefix, args.region
    if args.scenario:
        from harness.scenario import Scenario

        scenario = Scenario.load(args.scenario)
        if scenario.auth is None:
            raise UsageError(f"{args.scenario}: the scenario has no [auth] section; add one or pass --pool and --count")
        from harness.target import scenario_region

        pool = pool or scenario.auth.user_pool_id
        count = count or scenario.auth.users
        prefix = prefix or scenario.auth.username_prefix
        region = region or scenario_region(scenario, source=args.scenario)[0]
    if args.local:
        pool = pool or "local"
    if not pool:
        raise UsageError("users: no user pool; pass --scenario FILE, --pool ID or --local (the stack of `harness local up`)")
    prefix = prefix or DEFAULT_PREFIX
    if args.action == "create":
        if not count:
            raise UsageError("users create: how many? pass --count N or --scenario FILE")
        ensure_test_users(count=count, prefix=prefix, pool=pool, region=region, rate=args.rate, progress=err.is_terminal,
                          on_report=lambda report: err.print(report.summary()))  # fmt: skip
        return EXIT_OK
    pool_id, region = resolve_pool(pool, region)
    aws = AwsContext(region=region)
    report = delete_users(
        cognito=aws.client("cognito-idp"), secrets=aws.client("secretsmanager"), user_pool_id=pool_id, prefix=prefix, rate=args.rate, progress=err.is_terminal
    )
    err.print(report.summary())
    return EXIT_OK if report.ok else EXIT_RUN_FAILED
