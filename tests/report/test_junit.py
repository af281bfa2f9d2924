"""junit.xml from a verdict (``harness.report.junit``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.gates import Verdict, evaluate
from harness.report.junit import junit_xml
from harness.results import ResultSet

from ..gates.data import make_results


@pytest.fixture(scope="module")
def results() -> ResultSet:
    return make_results()


def test_junit_xml(results: ResultSet) -> None:
    verdict = evaluate(
        ['"list items".p95 < 1s', "requests >= 1", "error_rate < 1%", "server.p95 < 1s"],
        results=results,
    )
    xml = junit_xml(verdict, "steady & <ci>")
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "steady & <ci>"
    cases = suite.findall("testcase")
    assert len(cases) == 4
    assert {c.get("classname") for c in cases} == {"harness.gates"}
    assert [c.get("name") for c in cases] == ["error_rate < 1%", "server.p95 < 1s", '"list items".p95 < 1s', "requests >= 1"]
    failures = [c.find("failure") for c in cases]
    assert [f is not None for f in failures] == [True, True, False, False]
    assert failures[0].get("type") == "GateFailed"
    assert failures[0].get("message") == "FAIL error_rate < 1%: 25% (limit 1%); 50 of 200 requests did not get an expected status"
    assert failures[1].get("type") == "GateNotEvaluated"
    assert "no CloudWatch metrics were given" in failures[1].text
    assert cases[2].find("system-out").text.startswith("PASS ")
    empty = ET.fromstring(junit_xml(Verdict(), "none").split("\n", 1)[1])
    assert empty.get("tests") == "0" and empty.get("failures") == "0"
