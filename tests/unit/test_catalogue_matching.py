"""The failure catalogue file and the matcher: pure logic, no services."""

import pytest

from catalogue.matching import FUZZY_THRESHOLD, Failure, Matcher, MatchType, normalise
from catalogue.modes import Catalogue, load_catalogue
from chaosfleet.core.errors import ConfigError
from chaosfleet.core.yamlio import parse_yaml_model

REQUIRED = {
    "db-pool-exhausted", "db-unavailable", "redis-unavailable", "dependency-timeout",
    "connection-reset", "malformed-input-rejected", "malformed-input-accepted", "circuit-open",
    "load-shed", "critical-event-shed", "halt-storm-rate-limited", "halt-storm-cascade",
    "operation-lost", "duplicate-effect",
}


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_catalogue())


def test_the_bundled_catalogue_ships_every_required_mode():
    catalogue = load_catalogue()
    assert {m.id for m in catalogue.modes} >= REQUIRED
    for mode in catalogue.modes:
        assert mode.expected_recovery.description
        assert mode.mitigation


@pytest.mark.parametrize(("failure", "mode", "kind"), [
    (Failure("unavailable", "database pool exhausted", 503), "db-pool-exhausted", "pattern"),
    (Failure("unavailable", "circuit breaker open", 503), "circuit-open", "pattern"),
    (Failure("unavailable", "circuit breaker half-open", 503), "circuit-open", "pattern"),
    (Failure("unavailable", "database unavailable: query deadline exceeded", 503),
     "dependency-timeout", "pattern"),
    (Failure("unavailable", "database unavailable: connection reset", 503),
     "connection-reset", "pattern"),
    (Failure("unavailable", "database unavailable: connection refused", 503),
     "db-unavailable", "pattern"),
    (Failure("unavailable", "halt guard cannot reach redis: ConnectionError", 503),
     "redis-unavailable", "pattern"),
    (Failure("client_timeout", "ReadTimeout"), "dependency-timeout", "exact"),
    (Failure("ReadError", ""), "connection-reset", "exact"),
    (Failure("validation", "sku: must be at most 32 characters", 422),
     "malformed-input-rejected", "exact"),
    (Failure("ValidationFailed", "quantity: must be an integer"), "malformed-input-rejected",
     "exact"),
    (Failure("rate_limited", "halt limit 5 per 10s reached", 429), "halt-storm-rate-limited",
     "exact"),
    (Failure("operation_lost", "3 operations sent without an outcome"), "operation-lost",
     "exact"),
    (Failure("duplicate_effect", "2 operations applied twice"), "duplicate-effect", "exact"),
    (Failure("malformed_accepted", "null_field"), "malformed-input-accepted", "exact"),
])
def test_failures_the_fault_library_provokes_match_their_mode(matcher, failure, mode, kind):
    match = matcher.match(failure)
    assert match.mode is not None and match.mode.id == mode
    assert match.type == kind
    assert 0 < match.confidence <= 1


def test_a_misspelt_message_matches_fuzzily_with_lower_confidence(matcher):
    match = matcher.match(Failure("unavailable", "database unavailabel: conection refusd", 503))
    assert match.type is MatchType.FUZZY
    assert match.mode is not None and match.mode.id == "db-unavailable"
    assert match.confidence < 0.9


def test_an_unknown_failure_is_a_miss(matcher):
    match = matcher.match(Failure("http_500", "flux capacitor overheated", 500))
    assert match.type is MatchType.MISS and match.mode is None and match.confidence == 0


def test_a_status_outside_the_modes_statuses_does_not_match(matcher):
    # the validation code, but a 5xx: not a clean rejection
    match = matcher.match(Failure("validation", "boom", 500))
    assert match.mode is None or match.mode.id != "malformed-input-rejected"


def test_normalisation_masks_literals_so_occurrences_group_together():
    a = Failure("unavailable", "halt limit 5 per 10s reached for 'node-17' id 9f86d081884c7d65")
    b = Failure("unavailable", "halt limit 7 per 30s reached for 'node-2' id 0a1b2c3d4e5f6a7b")
    assert a.text == b.text
    assert a.signature == b.signature
    assert "node-17" not in a.text and "9f86d0" not in a.text
    assert len(normalise("x" * 10_000)) <= 300


def test_fuzzy_threshold_is_a_percentage():
    assert 50 < FUZZY_THRESHOLD <= 100


@pytest.mark.parametrize(("text", "complaint"), [
    ("version: 1\nmodes: []\n", "modes"),
    ("version: 1\nmodes:\n  - {id: x1, title: t, category: weather, severity: error, "
     "defect: false, retryable: true, recovery_mode: automatic, mitigation: m, "
     "expected_recovery: {description: d}, signature: {codes: [a]}}\n", "category"),
    ("version: 1\nmodes:\n  - {id: x1, title: t, category: network, severity: error, "
     "defect: false, retryable: true, recovery_mode: automatic, mitigation: m, "
     "expected_recovery: {description: d}, signature: {patterns: ['(']}}\n", "regex"),
    ("version: 1\nmodes:\n  - {id: x1, title: t, category: network, severity: error, "
     "defect: false, retryable: true, recovery_mode: automatic, mitigation: m, "
     "expected_recovery: {description: d}, signature: {}}\n", "at least one"),
])
def test_a_bad_catalogue_file_names_the_problem(text, complaint):
    with pytest.raises(ConfigError) as err:
        parse_yaml_model(text, Catalogue, "modes.yaml")
    assert complaint in str(err.value)
    assert "modes.yaml" in str(err.value)


def test_duplicate_mode_ids_are_refused():
    mode = ("  - {id: same, title: t, category: network, severity: error, defect: false, "
            "retryable: true, recovery_mode: automatic, mitigation: m, "
            "expected_recovery: {description: d}, signature: {codes: [a]}}\n")
    with pytest.raises(ConfigError, match="declared twice"):
        parse_yaml_model("version: 1\nmodes:\n" + mode + mode, Catalogue, "m.yaml")


@pytest.mark.parametrize(("failure", "mode"), [
    (Failure("http_500", "", 500), "opaque-5xx"),
    (Failure("http_502", "Bad Gateway", 502), "opaque-5xx"),
    (Failure("http_503", "Service temporary unavailable due to maintenance, please retry "
             "later.", 503), "service-unavailable"),
    (Failure("http_409", "Integrity constraint violated, please retry.", 409),
     "conflict-retry"),
    (Failure("http_401", "", 401), "auth-refused"),
    (Failure("Invalid parameters", "data.title in body: Required", 400),
     "malformed-input-rejected"),
    (Failure("missing", "body.comment.body: field required", 422),
     "malformed-input-rejected"),
    (Failure("http_500", "psycopg.OperationalError: connection to server at \"127.0.0.1\", "
             "port 5432 failed: Connection refused", 500), "db-unavailable"),
    (Failure("http_500", "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 "
             "reached", 503), "db-pool-exhausted"),
    (Failure("http_503", "FATAL: too many connections for role \"app\"", 503),
     "db-pool-exhausted"),
])
def test_generic_http_modes_match_common_framework_and_driver_failures(matcher, failure, mode):
    match = matcher.match(failure)
    assert match.mode is not None and match.mode.id == mode, match


@pytest.mark.parametrize(("status", "kind"), [
    (400, ("input", "info", False)), (422, ("input", "info", False)),
    (429, ("capacity", "warning", True)), (409, ("integrity", "warning", True)),
    (503, ("dependency", "error", True)), (500, ("resilience", "error", False)),
    (None, ("network", "warning", True)),
])
def test_a_proposed_entry_guesses_category_and_severity_from_the_status_class(status, kind):
    from catalogue.failures import guess_kind
    from catalogue.modes import FailureMode

    assert guess_kind(status) == kind
    category, severity, retryable = kind  # every guess is a valid mode
    FailureMode.model_validate({
        "id": "x-y", "title": "t", "category": category, "severity": severity,
        "defect": False, "retryable": retryable, "recovery_mode": "operator",
        "mitigation": "m", "expected_recovery": {"description": "d"},
        "signature": {"codes": ["x"]}})
