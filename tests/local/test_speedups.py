"""moto's work done once or in C (``harness.local.speedups``): the same answers, less CPU.

moto's CloudFormation models are imported by the tests, not by the module: 1.3 s of CPU that
every pytest worker would pay while collecting."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from harness.local import speedups
from harness.local.moto import DEFAULT_PATCHES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def models(monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's models with the speed-ups applied in this process, undone after the test."""
    import moto.cloudformation.models as cfn_models
    import moto.cloudformation.responses as cfn_responses
    import moto.cognitoidp.models as cognito_models

    monkeypatch.setattr(cognito_models, "jwk", cognito_models.jwk)
    monkeypatch.setattr(cfn_models, "yaml", cfn_models.yaml)
    monkeypatch.setattr(cfn_responses, "yaml", cfn_responses.yaml)
    speedups.install()
    speedups.install_yaml()
    return SimpleNamespace(cognito=cognito_models, cfn=cfn_models, cfn_responses=cfn_responses)


def test_the_moto_server_applies_both() -> None:
    assert "harness.local.speedups:install" in DEFAULT_PATCHES
    assert "harness.local.speedups:install_yaml@moto.cloudformation.models" in DEFAULT_PATCHES


def test_user_pools_import_their_key_once_and_still_sign_verifiable_tokens(models: Any) -> None:
    from joserfc import jwk, jwt
    from moto.utilities.utils import load_resource

    cognito_models = models.cognito
    first = cognito_models.CognitoIdpUserPool("us-east-1", "123456789012", "one", {})
    second = cognito_models.CognitoIdpUserPool("us-east-1", "123456789012", "two", {})
    assert first.json_web_key is second.json_web_key
    # what it signs, the public key moto serves at the pool's jwks.json verifies (the emulator's check)
    token = jwt.encode({"alg": "RS256", "kid": "dummy"}, {"client_id": "client"}, second.json_web_key)
    (public,) = load_resource("cognitoidp/resources/jwks-public.json")["keys"]
    assert jwt.decode(token, jwk.RSAKey.import_key(public)).claims["client_id"] == "client"
    speedups.install()  # idempotent: still one key
    assert cognito_models.CognitoIdpUserPool("us-east-1", "123456789012", "three", {}).json_web_key is first.json_web_key


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml: moto's parser is left as it is")
def test_templates_parse_with_libyaml_to_what_pyyaml_gives(models: Any) -> None:
    from moto.cloudformation.utils import yaml_tag_constructor

    cfn_models, cfn_responses = models.cfn, models.cfn_responses
    template = (ROOT / "infra" / "fanout.yaml").read_text()
    yaml.add_multi_constructor("", yaml_tag_constructor)
    expected = yaml.load(template, Loader=yaml.Loader)  # moto's own way, pure Python
    assert cfn_models.yaml.Loader is not yaml.Loader and issubclass(cfn_models.yaml.Loader, yaml.CLoader)
    assert cfn_models.Stack.parse_template(template) == expected
    assert "!Ref" not in str(expected) and expected["Resources"]
    summary = cfn_responses.get_template_summary_response_from_template(template)
    assert summary["ResourceTypes"] and summary["Version"] == expected["AWSTemplateFormatVersion"]
    # a JSON template and one that is not YAML go the ways they went before
    assert cfn_models.Stack.parse_template('{"Resources": {}}') == {"Resources": {}}
    with pytest.raises(ValueError):
        cfn_models.Stack.parse_template("Resources: [unclosed")
