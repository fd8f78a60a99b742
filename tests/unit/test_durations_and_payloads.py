import pytest

from chaosfleet.core.config import HttpTarget
from chaosfleet.core.durations import parse_duration
from chaosfleet.traffic.payloads import POOL_SIZE, UNIT_POOL_SIZE, PayloadSource, input_hash
from chaosfleet.traffic.plan import split_traffic
from scenarios.model import FakerField, Journey, OperationMix


@pytest.mark.parametrize("text,seconds", [("250ms", 0.25), ("10s", 10), ("2m", 120), (3, 3.0),
                                          ("1.5s", 1.5), ("1h", 3600)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["-1s", -2, "soon", True, None, "10 parsecs"])
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


MIX = [
    OperationMix(name="a", weight=3, payload={"who": FakerField(faker="name"), "n": 1}),
    OperationMix(name="b", weight=1, payload={"word": FakerField(faker="word")}),
]


def draw(seed: int, slice_index: int, n: int = 50):
    source = PayloadSource(MIX, seed, slice_index)
    return [source.next() for _ in range(n)]


def test_one_seed_fixes_mix_and_payloads():
    assert draw(42, 0) == draw(42, 0)


def test_other_seed_or_slice_gives_other_traffic():
    assert draw(42, 0) != draw(43, 0)
    assert draw(42, 0) != draw(42, 1)


def test_weights_shape_the_mix():
    names = [unit.name for unit in draw(1, 0, 2000)]
    assert 0.68 < names.count("a") / len(names) < 0.82


POOLED = [OperationMix(name="order", payload={
    "customer": FakerField(faker="name"), "lines": [{"sku": FakerField(faker="word")}]})]
N = UNIT_POOL_SIZE + 2000


def payloads(mix, seed: int = 7, n: int = N):
    source = PayloadSource(mix, seed, 0, run_id="r1")
    return [source.next().steps[0] for _ in range(n)]


def test_past_the_pool_payloads_repeat_the_first_ones_still_fixed_by_the_seed():
    first, again = payloads(POOLED), payloads(POOLED)
    assert [d.payload for d in first] == [d.payload for d in again]
    assert [d.payload for d in payloads(POOLED, seed=8)] != [d.payload for d in first]
    early = {input_hash(d.payload) for d in first[:UNIT_POOL_SIZE]}
    late = first[UNIT_POOL_SIZE:]
    assert all(d.input_hash == input_hash(d.payload) for d in first)  # hash matches payload
    assert {d.input_hash for d in late} <= early  # each a payload of the first units
    assert len({d.input_hash for d in late}) > 1000  # picked across them, not one repeated


def test_a_pooled_payload_is_a_copy_a_target_may_change():
    draws = payloads(POOLED)
    for d in draws[UNIT_POOL_SIZE:]:
        d.payload["lines"][0]["sku"] = "changed"
        d.payload["customer"] = "changed"
    assert not any("changed" in str(d.payload) for d in payloads(POOLED))


def test_in_payloads_that_never_repeat_faker_values_repeat_after_their_pool():
    """`{unique}` keeps every payload fresh; its Faker fields still draw from a pool."""
    mix = [OperationMix(name="signup", payload={"id": "{unique}",
                                                "who": FakerField(faker="name")})]
    draws = payloads(mix, n=POOL_SIZE + 3000)
    assert len({d.payload["id"] for d in draws}) == len(draws)
    early = {d.payload["who"] for d in draws[:POOL_SIZE]}
    assert {d.payload["who"] for d in draws[POOL_SIZE:]} <= early
    assert [d.payload for d in draws] == [d.payload for d in payloads(mix, n=POOL_SIZE + 3000)]


@pytest.mark.parametrize("recipe", [{"id": "{unique}"}, {"id": FakerField(faker="uuid4")},
                                    {"id": "{faker:md5}"},
                                    {"ref": "{order.id}"}])
def test_payloads_meant_to_differ_never_repeat(recipe):
    draws = payloads([OperationMix(name="x", payload=recipe)])
    texts = [str(d.payload) for d in draws]
    if "ref" in recipe:  # read at send time: nothing to repeat, the template stays
        assert len({d.input_hash for d in draws}) == 1 and "{order.id}" in texts[0]
    else:
        assert len(set(texts)) == len(texts)


def journeys(steps: list[dict], n: int = N) -> list[tuple]:
    flow = Journey.model_validate({"name": "walk", "steps": steps})
    source = PayloadSource([], 7, 0, journeys=[flow], run_id="r1")
    return [source.next().steps for _ in range(n)]


def test_past_the_pool_a_journey_repeats_one_of_its_first_units_whole():
    steps = [{"operation": "a", "payload": {"who": {"faker": "name"}}},
             {"operation": "b", "payload": {"lines": [{"sku": {"faker": "word"}}]}}]
    first = journeys(steps)
    assert [[d.payload for d in u] for u in first] == [[d.payload for d in u]
                                                      for u in journeys(steps)]
    hashes = [tuple(d.input_hash for d in u) for u in first]
    assert all(d.input_hash == input_hash(d.payload) for u in first for d in u)
    assert set(hashes[UNIT_POOL_SIZE:]) <= set(hashes[:UNIT_POOL_SIZE])  # whole units
    assert len(set(hashes[UNIT_POOL_SIZE:])) > 1000
    for unit in first[UNIT_POOL_SIZE:]:  # copies: a target may change what it is given
        unit[1].payload["lines"][0]["sku"] = "changed"
    assert not any("changed" in str(u[1].payload) for u in journeys(steps))


def test_a_journey_with_a_step_meant_to_differ_is_never_pooled():
    steps = [{"operation": "a", "payload": {"who": {"faker": "name"}}},
             {"operation": "b", "payload": {"id": "{unique}"}}]
    ids = [u[1].payload["id"] for u in journeys(steps)]
    assert len(set(ids)) == len(ids)


def test_input_hash_is_stable_and_hides_the_payload():
    payload = {"customer": "Ada Lovelace", "quantity": 2}
    digest = input_hash(payload)
    assert digest == input_hash(dict(reversed(list(payload.items()))))
    assert "Ada" not in digest and len(digest) == 16
    assert input_hash({"s": "\udcff"})  # a lone surrogate does not crash hashing


def test_traffic_splits_into_windows_times_fanout():
    target = HttpTarget(kind="http", base_url="http://127.0.0.1:1",
                        operations={"a": {"path": "/a"}})
    plans = split_traffic("r1", 1000.0, 12.0, 40.0, 16, 7, MIX, target, 5.0, 2)
    assert [p.offset for p in plans] == [0, 0, 5, 5, 10, 10]
    assert [p.duration for p in plans][-1] == 2.0
    assert all(p.rate == 20.0 and p.concurrency == 8 for p in plans)
    assert sum(p.op_count for p in plans) == 40 * 12
    assert len({p.index for p in plans}) == len(plans)
