"""Allowlist, production guard, and the target's strict input validation."""

import pytest

from chaosfleet.core.config import FleetConfig, check_allowed, load_config
from chaosfleet.core.errors import ConfigError, NotAllowedError
from chaosfleet.core.settings import BUNDLED_CONFIG
from reftarget.errors import ValidationFailed
from reftarget.settings import TargetSettings
from reftarget.validation import OrderIn, check_idempotency_key, parse_input


@pytest.fixture
def config() -> FleetConfig:
    return load_config(BUNDLED_CONFIG)


def test_allowlisted_target_and_proxy_pass(config):
    check_allowed(config, "reference", ["reference-db"], allow_production=False)


def test_target_not_on_allowlist_is_refused(config):
    narrowed = config.model_copy(update={"allowlist": config.allowlist.model_copy(
        update={"targets": []})})
    with pytest.raises(NotAllowedError, match="target 'reference' is not on the allowlist"):
        check_allowed(narrowed, "reference", [], allow_production=False)


def test_proxy_not_on_allowlist_is_refused(config):
    with pytest.raises(NotAllowedError, match="proxy 'prod-db' is not on the allowlist"):
        check_allowed(config, "reference", ["prod-db"], allow_production=False)


def test_production_is_refused_unless_permitted(config):
    prod = config.model_copy(update={"environment": "production"})
    with pytest.raises(NotAllowedError, match="production"):
        check_allowed(prod, "reference", [], allow_production=False)
    check_allowed(prod, "reference", [], allow_production=True)


def test_unknown_target_lists_the_declared_ones(config):
    with pytest.raises(ConfigError, match="reference"):
        config.target("nope")


def test_proxy_addresses_must_be_host_and_port():
    with pytest.raises(Exception, match="listen"):
        FleetConfig.model_validate({"targets": {"t": {
            "kind": "http", "base_url": "http://127.0.0.1:1", "operations": {},
            "proxies": {"db": {"listen": "5432", "upstream": "db:5432"}}}}})


@pytest.mark.parametrize("payload,field", [
    ({"sku": "SKU-0001", "quantity": 1}, "customer"),
    ({"customer": "a", "sku": "sku1", "quantity": 1}, "sku"),
    ({"customer": "a", "sku": "SKU-0001", "quantity": "1"}, "quantity"),
    ({"customer": "a", "sku": "SKU-0001", "quantity": 10**12}, "quantity"),
    ({"customer": "a\x00b", "sku": "SKU-0001", "quantity": 1}, "customer"),
    ({"customer": "a", "sku": "SKU-0001", "quantity": 1, "extra": 1}, "extra"),
    ([1, 2], "body"),
])
def test_order_validation_names_the_field(payload, field):
    with pytest.raises(ValidationFailed) as info:
        parse_input(OrderIn, payload)
    assert field in [p.field for p in info.value.problems]


def test_idempotency_key_is_bounded():
    check_idempotency_key("run-s1-o2")
    with pytest.raises(ValidationFailed, match="Idempotency-Key"):
        check_idempotency_key("x" * 129)


def test_unknown_mechanism_switch_is_refused():
    with pytest.raises(ValueError, match="unknown mechanisms"):
        TargetSettings(disable="breakr").enabled("breaker")


def test_degraded_rules_pick_the_first_that_matches_answer_and_payload():
    from chaosfleet.core.config import DegradedRule, degraded_code

    rules = [DegradedRule(response={"shed": True}, payload={"kind": "critical"},
                          code="critical_event_shed"),
             DegradedRule(response={"shed": True}, code="load_shed")]
    assert degraded_code(rules, {"kind": "critical"}, {"shed": True}) == "critical_event_shed"
    assert degraded_code(rules, {"kind": "telemetry"}, {"shed": True}) == "load_shed"
    assert degraded_code(rules, {"kind": "critical"}, {"shed": False}) is None
    assert degraded_code(rules, {"kind": "critical"}, None) is None  # not a JSON object
    assert degraded_code(rules, "garbage", {"shed": True}) is None


def test_a_degraded_rule_needs_a_response_and_a_code():
    from pydantic import ValidationError

    from chaosfleet.core.config import DegradedRule

    with pytest.raises(ValidationError, match="response"):
        DegradedRule(response={}, code="load_shed")
    with pytest.raises(ValidationError, match="code"):
        DegradedRule(response={"shed": True}, code="Load Shed!")
