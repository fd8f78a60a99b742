"""A malformed scenario gets a clear error naming each bad field and its line."""

import textwrap

import pytest

from chaosfleet.core.config import load_config
from chaosfleet.core.errors import ConfigError
from chaosfleet.core.settings import BUNDLED_CONFIG
from chaosfleet.core.yamlio import parse_yaml_model
from scenarios.loader import check_against_target, list_library, load_scenario
from scenarios.model import Scenario

VALID = """\
name: probe-latency
target: reference
seed: 7
traffic:
  rate: 20
  duration: 30s
  operations:
    - name: create_order
      payload:
        customer: {faker: name}
        quantity: 3
faults:
  - type: latency
    proxy: reference-db
    latency_ms: 900
    start: 5s
    duration: 5s
steady_state:
  probes: [healthy]
recovery:
  within: 10s
"""


def parse(text: str) -> Scenario:
    return parse_yaml_model(textwrap.dedent(text), Scenario, "scenario.yaml")


def errors_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


def test_valid_scenario_parses_with_durations_in_seconds():
    scenario = parse(VALID)
    assert scenario.traffic.duration == 30.0
    assert scenario.faults[0].start == 5.0
    assert scenario.proxies == ["reference-db"]


def test_wrong_types_name_the_field_and_line():
    message = errors_of(VALID.replace("rate: 20", "rate: fast").replace("seed: 7", "seed: [1]"))
    assert "scenario.yaml:5: traffic.rate:" in message
    assert "scenario.yaml:3: seed:" in message


def test_unknown_fault_type_suggests_the_closest():
    message = errors_of(VALID.replace("type: latency", "type: latncy"))
    assert "faults.0" in message
    assert "did you mean 'latency'?" in message


def test_missing_target_is_named():
    message = errors_of(VALID.replace("target: reference\n", ""))
    assert "target: Field required" in message


def test_negative_rate_and_negative_duration_are_refused():
    message = errors_of(VALID.replace("rate: 20", "rate: -5").replace("start: 5s", "start: -5s"))
    assert "traffic.rate: Input should be greater than 0" in message
    assert "faults.0.start" in message and "negative" in message


def test_every_problem_is_reported_at_once():
    bad = VALID.replace("rate: 20", "rate: -1").replace("within: 10s", "within: soon")
    message = errors_of(bad)
    assert "traffic.rate" in message and "recovery.within" in message
    assert len(message.splitlines()) >= 2


def test_unknown_field_is_refused():
    message = errors_of(VALID.replace("seed: 7", "seed: 7\nsede: 8"))
    assert "sede: Extra inputs are not permitted" in message


def test_unknown_faker_provider_is_named():
    message = errors_of(VALID.replace("{faker: name}", "{faker: nonsense_provider}"))
    assert "unknown Faker provider 'nonsense_provider'" in message


def test_fault_must_leave_room_for_recovery():
    message = errors_of(VALID.replace("duration: 30s", "duration: 12s"))
    assert "faults.0: ends at 10s" in message


def test_invalid_yaml_names_the_line():
    message = errors_of(VALID.replace("rate: 20", "rate: [20"))
    assert "scenario.yaml:" in message and "not valid YAML" in message


def test_top_level_must_be_a_mapping():
    assert "expected a mapping" in errors_of("- just\n- a list\n")


def test_unknown_operation_and_proxy_are_named_against_the_target():
    scenario = parse(VALID.replace("name: create_order", "name: create_ordr")
                     .replace("proxy: reference-db", "proxy: reference-dbx"))
    target = load_config(BUNDLED_CONFIG).target("reference")
    with pytest.raises(ConfigError) as info:
        check_against_target(scenario, target)
    assert "traffic.operations.0.name" in str(info.value)
    assert "faults.0.proxy" in str(info.value)


def test_unknown_scenario_name_lists_the_library():
    with pytest.raises(ConfigError, match="db-latency"):
        load_scenario("no-such-scenario")


@pytest.mark.parametrize("name", list_library())
def test_every_builtin_scenario_is_valid_against_its_target(name):
    scenario = load_scenario(name)
    check_against_target(scenario, load_config(BUNDLED_CONFIG).target(scenario.target))


def test_a_key_given_twice_is_refused_with_both_lines():
    message = errors_of(VALID.replace("  rate: 20\n", "  rate: 20\n  rate: 4000\n"))
    assert "scenario.yaml:6: traffic.rate: given twice (first on line 5" in message


@pytest.mark.parametrize("name", ["seed", "seed_instance", "add_provider", "format"])
def test_faker_methods_that_are_not_data_providers_are_refused(name):
    message = errors_of(VALID.replace("{faker: name}", f"{{faker: {name}}}"))
    assert f"unknown Faker provider {name!r}" in message
