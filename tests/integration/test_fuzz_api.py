"""Every API route under generated requests (path ids, query strings, JSON bodies
with NaN and Infinity, missing tokens), on real PostgreSQL and Redis: never a 5xx,
and every answer but /metrics is JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import IN_CI
from tests.fuzz.test_fuzz_inputs import FILTER_TEXT, values
from tests.integration.test_catalogue import scratch_pg  # noqa: F401  (fixture)
from tests.integration.test_trigger_api import AUTH, api  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLES = 400
QUERY_NAMES = ["run_id", "error_code", "mode_id", "category", "severity", "status", "since",
               "until", "limit", "offset", "x"]
RAW_BODIES = [b'{"scenario": NaN}', b'{"scenario": "db-latency", "target": Infinity}',
              b'{"recovered": NaN, "notes": "x"}', b"[" * 5000, b"\xff\xfe", b"", b"null",
              b'{"suite": "smoke", "fail_fast": -Infinity}']


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]]
             ) -> tuple[str, str, dict, bytes, dict]:
    method, template = draw(st.sampled_from(routes))
    path = re.sub(r"\{[^}]+\}", lambda _: quote(draw(st.one_of(
        st.text(min_size=1, max_size=50), st.sampled_from(["nope", "suite-x", "r-1", "%00",
                                                           "x" * 500]))), safe=""), template)
    query = draw(st.dictionaries(st.sampled_from(QUERY_NAMES), st.one_of(
        FILTER_TEXT.filter(lambda v: v is not None), st.integers(-2**70, 2**70).map(str)),
        max_size=4))
    body = draw(st.one_of(st.sampled_from(RAW_BODIES), values(
        ["scenario", "suite", "target", "fail_fast", "recovered", "notes", "by"]).map(
        lambda v: json.dumps(v, allow_nan=True).encode())))
    headers = draw(st.sampled_from([AUTH, {}, {"Authorization": "Bearer x"}]))
    return method, path, query, body, headers


def test_no_api_route_answers_a_5xx_to_generated_requests(api):  # noqa: F811
    client, _, _ = api
    routes = sorted((method.upper(), path) for path, ops in client.app.openapi()["paths"].items()
                    for method in ops)
    assert len(routes) >= 15, routes  # every documented route is in the draw

    statuses: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), derandomize=IN_CI,
              database=None, suppress_health_check=list(HealthCheck))
    @given(requests(routes))
    def check(request):
        method, path, query, body, headers = request
        response = client.request(method, path, params=query, content=body,
                                  headers={**headers, "Content-Type": "application/json"})
        statuses[response.status_code] += 1
        assert response.status_code < 500, (method, path, query, body[:200], response.text)
        if not path.startswith("/metrics") or response.status_code != 200:
            response.json()  # a JSON answer, never an HTML error page

    check()
    # the draw got past the token and the validators too, not only to a 401
    assert statuses[401] and statuses[422] and statuses[404], statuses
    assert sum(n for code, n in statuses.items() if code < 300) >= 20, statuses
