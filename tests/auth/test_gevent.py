"""Users and the token pool still work after gevent's monkey-patching, as inside Locust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from .conftest import Pool

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()

    import json, sys, threading, time
    from harness.aws import AwsContext
    from harness.auth import TokenPool, create_users, delete_users, get_password, make_usernames

    pool_id, client_id = sys.argv[1], sys.argv[2]
    ctx = AwsContext()
    cognito, secrets = ctx.client("cognito-idp"), ctx.client("secretsmanager")
    report = create_users(cognito=cognito, secrets=secrets, user_pool_id=pool_id, count=6,
                          rate=100.0, concurrency=4, progress=False)
    offset = [0.0]
    tokens = TokenPool(cognito=cognito, user_pool_id=pool_id, client_id=client_id,
                       usernames=make_usernames(6), password=get_password(secrets=secrets, user_pool_id=pool_id),
                       flow="srp", login_rate=100.0, clock=lambda: time.time() + offset[0])
    tokens.login_all(concurrency=4)
    tokens.start_refresher(interval=0.05)
    offset[0] = 3500.0
    deadline = time.monotonic() + 5
    while tokens.refreshes < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    tokens.close()
    gone = delete_users(cognito=cognito, secrets=secrets, user_pool_id=pool_id, rate=100.0, progress=False)
    print(json.dumps({"patched": monkey.is_module_patched("threading"), "created": report.created,
                      "stats": tokens.stats(), "deleted": gone.deleted}))
    """
)


def test_everything_works_under_gevent_monkey_patching(pool: Pool) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, pool.user_pool_id, pool.client_id],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["patched"] is True
    assert data["created"] == 6 and data["deleted"] == 6
    assert data["stats"]["logins"] == 6
    assert data["stats"]["refreshes"] >= 6
    assert data["stats"]["login_failures"] == 0
