"""Cognito test users (provisioning, cleanup), their password secret, and the token pool.

report = create_users(cognito=cognito, secrets=secrets, user_pool_id=pool_id, count=100)
pool = TokenPool(cognito=cognito, user_pool_id=pool_id, client_id=client_id,
                 usernames=make_usernames(100), password=get_password(secrets=secrets, user_pool_id=pool_id))
pool.login_all(); pool.start_refresher()
token = pool.token(i)
"""

from harness.auth.backoff import Backoff, is_throttling
from harness.auth.ratelimit import RateLimiter
from harness.auth.secret import get_password, secret_name
from harness.auth.tokens import Flow, Identity, TokenPool
from harness.auth.users import DEFAULT_PREFIX, UsersReport, create_users, delete_users, ensure_test_users, make_usernames, username_pattern

__all__ = [
    "DEFAULT_PREFIX",
    "Backoff",
    "Flow",
    "Identity",
    "RateLimiter",
    "TokenPool",
    "UsersReport",
    "create_users",
    "delete_users",
    "ensure_test_users",
    "get_password",
    "is_throttling",
    "make_usernames",
    "secret_name",
    "username_pattern",
]
