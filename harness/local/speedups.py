"""moto doing the same work with less CPU: nothing it answers changes.

Applied in the server process (``DEFAULT_PATCHES`` in ``harness.local.moto``):

- ``install``: **a user pool's signing key is imported once per process.** Every
  ``CreateUserPool`` made moto import the same static JWK (``jwks-private.json``) again, and
  importing an RSA private key from a JWK recovers its primes: about 0.13 s of CPU per pool, more
  than the rest of a local stack's Cognito set-up. The pools still share that one key, as before.
- ``install_yaml`` (when moto first imports its CloudFormation models): **templates are parsed
  with libyaml** (PyYAML's ``CLoader``) instead of the pure-Python ``Loader``, with moto's
  constructor for the ``!Ref``-style tags: the same dicts, about ten times faster; moto parses a
  template several times per change set (the fan-out stack's 22 KB: 36 ms -> 4 ms each). Without
  libyaml nothing changes.
"""

from __future__ import annotations

import json
import threading
from typing import Any

__all__ = ["install", "install_yaml"]

_lock = threading.Lock()


def install() -> None:
    """Import moto's user pool key once per process."""
    import moto.cognitoidp.models as models
    from joserfc import jwk

    if getattr(models.jwk, "harness_once", False):
        return
    keys: dict[str, Any] = {}

    class RSAKey:
        @staticmethod
        def import_key(value: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs or not isinstance(value, dict):
                return jwk.RSAKey.import_key(value, *args, **kwargs)
            name = json.dumps(value, sort_keys=True)
            with _lock:
                if name not in keys:
                    keys[name] = jwk.RSAKey.import_key(value)
                return keys[name]

    class OnceJwk:
        """``joserfc.jwk`` as moto's Cognito models use it, with the key import remembered."""

        harness_once = True

        def __getattr__(self, name: str) -> Any:
            return RSAKey if name == "RSAKey" else getattr(jwk, name)

    models.jwk = OnceJwk()  # type: ignore[assignment]


def install_yaml() -> None:
    """Parse CloudFormation templates in moto with libyaml, when PyYAML has it."""
    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        return
    import moto.cloudformation.models as models
    import moto.cloudformation.responses as responses

    if getattr(models.yaml, "harness_libyaml", False):
        return

    class TemplateLoader(yaml.CLoader):
        """libyaml's loader with the constructors moto adds for the template's tags."""

    class LibYaml:
        """The ``yaml`` module as moto's CloudFormation uses it, its ``Loader`` libyaml's."""

        harness_libyaml = True
        Loader = TemplateLoader

        @staticmethod
        def add_multi_constructor(tag_prefix: str, constructor: Any, Loader: Any = None) -> None:  # noqa: N803 - PyYAML's name
            if Loader is None:
                TemplateLoader.add_multi_constructor(tag_prefix, constructor)
            yaml.add_multi_constructor(tag_prefix, constructor, Loader=Loader)

        def __getattr__(self, name: str) -> Any:
            return getattr(yaml, name)

    models.yaml = responses.yaml = LibYaml()
