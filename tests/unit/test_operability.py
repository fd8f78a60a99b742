"""Operable in CI: bad settings name the variable, misspelt variables are warned
about, Ctrl-C asks for a cancel before it exits, progress reads well in a pipe,
and Celery gets queue expiries as absolute times."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from io import StringIO

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.text import Text

from chaosfleet.cli import common as cli_common
from chaosfleet.cli.interrupts import Interrupts
from chaosfleet.core.errors import ConfigError, HarnessError, NotAllowedError
from chaosfleet.core.exitcodes import ExitCode, exit_code_for
from chaosfleet.core.settings import get_settings, reset_settings, unknown_variables
from chaosfleet.dispatch import expires_in


@pytest.fixture
def clean_settings():
    reset_settings()
    yield
    reset_settings()


def test_a_bad_setting_names_the_variable_and_its_value(monkeypatch, clean_settings):
    monkeypatch.setenv("CHAOSFLEET_JANITOR_PERIOD", "abc")
    monkeypatch.setenv("CHAOSFLEET_TRAFFIC_CONCURRENCY", "0")
    with pytest.raises(ConfigError) as caught:
        get_settings()
    text = str(caught.value)
    assert "CHAOSFLEET_JANITOR_PERIOD='abc'" in text and "valid number" in text
    assert "CHAOSFLEET_TRAFFIC_CONCURRENCY='0'" in text and "greater than 0" in text


def test_the_command_line_exits_3_on_a_bad_setting_and_warns_on_a_misspelt_one(
        monkeypatch, clean_settings):
    from chaosfleet.cli.main import main

    result = CliRunner().invoke(main, ["scenarios"], env={
        "CHAOSFLEET_LEASE_GRACE": "-1", "CHAOSFLEET_REDIS_ULR": "redis://x"})
    assert result.exit_code == ExitCode.INVALID, result.output
    assert "CHAOSFLEET_LEASE_GRACE='-1'" in result.output
    assert "CHAOSFLEET_REDIS_ULR is not a chaosfleet setting: did you mean " \
           "CHAOSFLEET_REDIS_URL?" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_only_unknown_variables_are_warned_about():
    env = {"CHAOSFLEET_REDIS_URL": "x", "CHAOSFLEET_GOBIN": "/bin", "CHAOSFLEET_ZZZ": "1",
           "CHAOSFLEET_JANITOR_PERIDO": "1", "PATH": "/bin"}
    assert unknown_variables(env) == [
        "CHAOSFLEET_JANITOR_PERIDO is not a chaosfleet setting: did you mean "
        "CHAOSFLEET_JANITOR_PERIOD?",
        "CHAOSFLEET_ZZZ is not a chaosfleet setting"]


def test_exit_codes_separate_bad_input_from_a_broken_harness():
    assert exit_code_for(ConfigError("x")) == exit_code_for(NotAllowedError("x")) == 3
    assert exit_code_for(HarnessError("x")) == exit_code_for(RuntimeError("x")) == 2
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 130]


def test_the_first_interrupt_asks_for_a_cancel_and_the_second_exits_130():
    before = signal.getsignal(signal.SIGINT)
    with Interrupts() as interrupts:
        assert interrupts.reason() is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupts.reason() == "interrupted by the operator (SIGTERM)"
        with pytest.raises(SystemExit) as second:
            os.kill(os.getpid(), signal.SIGINT)
        assert second.value.code == 130
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_progress_in_a_pipe_is_one_plain_line_per_change_or_period(monkeypatch):
    out = StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    with cli_common.ProgressView(console, Text("queued")) as view:
        assert view.live is None
        for t in range(3):
            view.update(Text("ignored"), f"phase traffic | t {t}s", "traffic")
        view.update(Text("ignored"), "phase draining", "draining")
        monkeypatch.setattr(cli_common, "PLAIN_EVERY", 0.0)
        view.update(Text("ignored"), "phase draining again", "draining")
    assert out.getvalue().splitlines() == [
        "phase traffic | t 0s", "phase draining", "phase draining again"]


def test_user_text_in_an_error_is_never_read_as_markup(monkeypatch):
    out = StringIO()
    monkeypatch.setattr(cli_common, "console", Console(file=out, width=200))
    with pytest.raises(SystemExit) as done:
        cli_common.fail(ConfigError("scenario '[/]' and [bold]x[/bold] are unknown"))
    assert done.value.code == 3
    assert "scenario '[/]' and [bold]x[/bold] are unknown" in out.getvalue()


def test_queue_expiries_reach_celery_as_absolute_times():
    from workers.app import app

    message = app.amqp.as_task_v2("t1", "chaosfleet.run_scenario", args=[],
                                  expires=expires_in(20))
    expires = datetime.fromisoformat(message.headers["expires"])
    assert 15 < (expires - datetime.now(UTC)).total_seconds() <= 20


def test_log_records_carry_the_run_they_belong_to_as_json_or_text():
    import json
    import logging

    from chaosfleet.core.logs import log_context, make_formatter

    logger = logging.getLogger("chaosfleet.test")
    lines: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append((make_formatter("json").format(record),
                          make_formatter("text").format(record)))

    handler = Keep()
    logger.addHandler(handler)
    try:
        with log_context(run_id="r-1", scenario="db-latency", target="reference", fault=None):
            logger.warning("fault %s applied", "r-1-f0", extra={"caller": "ci"})
        logger.error("outside any run")
    finally:
        logger.removeHandler(handler)
    (inside_json, inside_text), (outside_json, outside_text) = lines
    inside = json.loads(inside_json)
    assert {k: inside[k] for k in ("run_id", "scenario", "target", "caller", "event",
                                   "level", "logger")} == {
        "run_id": "r-1", "scenario": "db-latency", "target": "reference", "caller": "ci",
        "event": "fault r-1-f0 applied", "level": "warning", "logger": "chaosfleet.test"}
    assert "fault" not in inside  # None fields are left out
    assert inside_text.endswith("[chaosfleet.test] fault r-1-f0 applied  run_id=r-1 "
                                "scenario=db-latency target=reference caller=ci")
    assert "run_id" not in json.loads(outside_json)  # the context ended with the block
    assert outside_text.endswith("ERROR   [chaosfleet.test] outside any run")


def test_a_mapping_setting_that_is_not_json_names_the_variable(monkeypatch, clean_settings):
    monkeypatch.setenv("CHAOSFLEET_API_TOKENS", "ci=abc")
    with pytest.raises(ConfigError, match="CHAOSFLEET_API_TOKENS: expected a JSON object"):
        get_settings()
    monkeypatch.setenv("CHAOSFLEET_API_TOKENS", '{"ci": "' + "t" * 20 + '"}')
    reset_settings()
    assert get_settings().named_tokens() == {"ci": "t" * 20}
