import pytest

from chaosfleet.core.config import HttpTarget
from chaosfleet.core.durations import parse_duration
from chaosfleet.traffic.payloads import PayloadSource, input_hash
from chaosfleet.traffic.plan import split_traffic
from scenarios.model import FakerField, OperationMix


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
