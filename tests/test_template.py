"""template.yaml agrees with the contracts and with what the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from samtranslator.yaml_helper import yaml_parse

from lakehouse.contracts import ContractRegistry

REPO = Path(__file__).resolve().parent.parent


TEMPLATE = yaml_parse((REPO / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]


def _landing_rule_prefixes() -> dict[str, str]:
    prefixes = {}
    for name, resource in RESOURCES.items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        detail = resource["Properties"].get("EventPattern", {}).get("detail", {})
        keys = detail.get("object", {}).get("key", [])
        if keys and resource["Properties"]["EventPattern"].get("detail-type") == ["Object Created"]:
            assert len(keys) == 1, f"{name}: one prefix per data set rule"
            prefixes[keys[0]["prefix"]] = name
    return prefixes


def test_every_contract_has_its_landing_rule_and_no_rule_is_orphaned():
    contracts = {c.landing_prefix: c.qualified_name for c in ContractRegistry.from_directory(REPO / "pipelines").contracts}
    rules = _landing_rule_prefixes()
    missing = {prefix: name for prefix, name in contracts.items() if prefix not in rules}
    orphaned = {prefix: name for prefix, name in rules.items() if prefix not in contracts}
    assert not missing, f"add an AWS::Events::Rule to template.yaml for each of these contracts: {missing}"
    assert not orphaned, f"these rules match no contract's landing_prefix: {orphaned}"


def test_landing_rules_target_the_landing_queue_and_may_send_to_it():
    queue_policy = RESOURCES["LandingQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    allowed = {ref["Fn::GetAtt"][0] for ref in queue_policy["Condition"]["ArnEquals"]["aws:SourceArn"]}
    for rule in _landing_rule_prefixes().values():
        targets = RESOURCES[rule]["Properties"]["Targets"]
        assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["LandingQueue", "Arn"]}], rule
        assert rule in allowed, f"LandingQueuePolicy does not let {rule} send messages"


def test_convert_function_declares_every_variable_the_settings_read():
    settings = (REPO / "layers/lakehouse/lakehouse/settings.py").read_text()
    required = set(re.findall(r'_required\("([A-Z_]+)"\)', settings))
    declared = set(RESOURCES["ConvertFunction"]["Properties"]["Environment"]["Variables"])
    declared |= set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    assert required <= declared, f"not declared in template.yaml: {required - declared}"
