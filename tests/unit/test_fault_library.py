"""Pure logic of the fault library: composition rules, malformed-input mutation and
its reproducibility, and how a halt storm finds the fleet's traffic processes."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from chaosfleet.core.config import HttpTarget, PythonTarget
from chaosfleet.traffic.cursor import planned_ops
from chaosfleet.traffic.plan import MalformedWindow, SlicePlan
from faults.malformed import BODY_LEVEL, mutate, names_field, usable_mutations
from faults.specs import MUTATIONS, MalformedInputSpec
from scenarios.model import OperationMix, Scenario

BASE = {
    "name": "s", "target": "reference",
    "traffic": {"rate": 10, "duration": "60s", "operations": [{"name": "create_order"}]},
    "steady_state": {"probes": ["healthy"]}, "recovery": {"within": "5s"},
}


def scenario(*faults: dict) -> Scenario:
    return Scenario.model_validate({**BASE, "faults": list(faults)})


def toxic(kind: str, start: int, duration: int, **extra) -> dict:
    return {"type": kind, "proxy": "reference-db", "start": start, "duration": duration, **extra}


def test_different_toxics_on_one_proxy_compose():
    s = scenario(toxic("latency", 5, 10, latency_ms=100),
                 toxic("bandwidth", 8, 10, rate_kbps=1))
    assert len(s.faults) == 2


def test_two_toxics_of_one_kind_and_stream_overlapping_are_refused():
    with pytest.raises(ValidationError, match=r"faults.0 \(latency 5s-15s\) and faults.1 "
                                              r"\(latency 10s-20s\) overlap: two latency"):
        scenario(toxic("latency", 5, 10, latency_ms=100), toxic("latency", 10, 10, latency_ms=5))


def test_same_kind_on_other_streams_or_at_other_times_is_fine():
    scenario(toxic("latency", 5, 10, latency_ms=100),
             toxic("latency", 5, 10, latency_ms=100, stream="upstream"))
    scenario(toxic("latency", 5, 5, latency_ms=100), toxic("latency", 10, 5, latency_ms=5))


@pytest.mark.parametrize("whole", [
    {"type": "proxy_down"},
    {"type": "pool_exhaustion", "connections": 4, "database": "d", "user": "u"},
])
def test_a_proxy_down_or_exhausted_refuses_any_other_fault_on_it(whole):
    with pytest.raises(ValidationError, match="leaves nothing on reference-db"):
        scenario({**whole, "proxy": "reference-db", "start": 5, "duration": 10},
                 toxic("latency", 6, 2, latency_ms=100))


def test_two_storms_at_once_are_refused():
    storm = {"type": "worker_halt_storm", "start": 5, "duration": 10}
    with pytest.raises(ValidationError, match="double a rate"):
        scenario(storm, {**storm, "start": 8})


PAYLOAD = {"customer": "Ada Lovelace", "sku": "SKU-0042", "quantity": 7}


@pytest.mark.parametrize("name", MUTATIONS)
def test_every_mutation_names_what_it_broke_and_changes_the_bytes(name):
    mutation = mutate(PAYLOAD, random.Random(3), name)
    assert mutation.name == name and mutation.detail
    assert mutation.body != json.dumps(PAYLOAD).encode() or mutation.content_type != \
        "application/json"
    if name in BODY_LEVEL:
        assert mutation.field is None
    elif name == "extra_field":
        assert mutation.field == "chaosfleet_unexpected"
    else:
        assert mutation.field in PAYLOAD
    if mutation.payload is not None:  # in-process targets get the same document
        assert json.loads(mutation.body) == mutation.payload


def test_mutations_that_should_not_parse_do_not():
    for name in ("truncated_json", "invalid_utf8"):
        body = mutate(PAYLOAD, random.Random(1), name).body
        with pytest.raises(ValueError):
            json.loads(body.decode("utf-8"))


def test_a_rejection_must_name_the_broken_field():
    mutation = mutate(PAYLOAD, random.Random(5), "null_field")
    assert names_field(mutation, f'{{"fields": [{{"field": "{mutation.field}"}}]}}')
    assert not names_field(mutation, '{"error": "bad request"}')


def test_in_process_targets_get_only_document_level_mutations():
    spec = MalformedInputSpec(type="malformed_input", operations=["x"], start=0, duration=1)
    usable = usable_mutations(spec, in_process=True)
    assert "truncated_json" not in usable and "wrong_type" in usable


def slice_plan(run_id: str, t0: float, target) -> SlicePlan:
    spec = MalformedInputSpec(type="malformed_input", operations=["create_order"], ratio=0.5,
                              start=1, duration=3)
    ops = [OperationMix(name="create_order",
                        payload={"customer": {"faker": "name"}, "quantity": 3})]
    return SlicePlan(
        run_id=run_id, index=2, run_started_at=t0, offset=0, duration=5, rate=40,
        concurrency=4, seed=99, operations=ops, target=target,
        malformed=[MalformedWindow(start=t0 + 1, end=t0 + 4, spec=spec)])


@pytest.mark.parametrize("target", [
    HttpTarget(kind="http", base_url="http://127.0.0.1:1",
               operations={"create_order": {"method": "POST", "path": "/o"}}),
    PythonTarget(kind="python", operations={"create_order": {"call": "m:f"}}),
])
def test_malformed_runs_are_byte_for_byte_reproducible_from_the_seed(target):
    first = list(planned_ops(slice_plan("run-a", 1000.0, target)))
    again = list(planned_ops(slice_plan("run-b", 5555.5, target)))  # another run, same seed
    bodies = [(op.n, op.mutation.name, op.mutation.body) for op in first if op.mutation]
    assert bodies == [(op.n, op.mutation.name, op.mutation.body) for op in again if op.mutation]
    assert [op.input_hash for op in first] == [op.input_hash for op in again]
    mutated = [op.n for op in first if op.mutation]
    assert mutated and all(40 <= n < 160 for n in mutated)  # only inside the window (1s-4s)
    assert 0.3 < len(mutated) / 120 < 0.7  # about the declared ratio


def test_opt_in_mutations_reach_nested_leaves_and_stay_out_of_the_default():
    from faults.specs import DEFAULT_MUTATIONS, OPT_IN_MUTATIONS

    doc = {"order": {"items": [{"sku": "A-1", "qty": 2}], "note": "hi"}}
    big = mutate(doc, random.Random(4), "int64_boundary")
    assert big.field == "order.items[0].qty"
    assert abs(big.payload["order"]["items"][0]["qty"]) >= 2**63 - 1
    nan = mutate(doc, random.Random(4), "nan_number")
    assert nan.field == "order.items[0].qty" and nan.payload is None
    with pytest.raises(ValueError):  # a strict parser refuses the literal
        json.loads(nan.body, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    extra = mutate(doc, random.Random(4), "extra_field")
    assert extra.field.endswith("chaosfleet_unexpected")
    assert json.loads(extra.body) == extra.payload and extra.payload != doc
    spec = MalformedInputSpec(type="malformed_input", operations=["x"], start=0, duration=1)
    assert set(spec.mutations) == set(DEFAULT_MUTATIONS)
    assert not set(OPT_IN_MUTATIONS) & set(spec.mutations)
    assert "nan_number" not in usable_mutations(
        spec.model_copy(update={"mutations": ["nan_number"]}), in_process=True)


def test_every_fault_type_is_in_the_readme_fault_table():
    """The list of types comes from the spec union (never kept by hand); each type a
    scenario may name is in the README's fault table."""
    import re

    from faults.registry import FAULT_TYPES
    from tests.conftest import REPO

    table = (REPO / "README.md").read_text().split("### Fault types", 1)[1].split("- **", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert len(FAULT_TYPES) == len(set(FAULT_TYPES)) >= 12
    assert set(FAULT_TYPES) <= documented, set(FAULT_TYPES) - documented


@pytest.mark.parametrize("listen, api, expected", [
    ("0.0.0.0:25432", "http://toxiproxy:8474", ("toxiproxy", 25432)),  # the compose stack
    ("[::]:25432", "http://10.0.0.7:8474", ("10.0.0.7", 25432)),
    (":25432", "http://127.0.0.1:8474", ("127.0.0.1", 25432)),
    ("127.0.0.1:25432", "http://toxiproxy:8474", ("127.0.0.1", 25432)),  # a named address
    ("[::1]:25432", "http://toxiproxy:8474", ("::1", 25432)),
])
def test_a_wildcard_proxy_is_reached_at_the_toxiproxy_host(listen, api, expected):
    """Pool exhaustion from a faults worker on another host than Toxiproxy."""
    from faults.pool import proxy_address

    assert proxy_address(listen, api) == expected
