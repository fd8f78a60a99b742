"""docker-compose.yml cannot run here (no Docker engine): keep it valid by checking
it describes every service the code expects, wired the way the code reads it."""

import re

import pytest
import yaml

from chaosfleet.celery_app import QUEUES
from chaosfleet.cli.main import main
from chaosfleet.cli.procs import ROLES
from chaosfleet.core.config import load_config
from chaosfleet.core.settings import Settings
from tests.conftest import REPO
from workers.app import app

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_has_every_part_of_the_stack():
    expected = {"redis", "postgres", "toxiproxy", "reftarget", "beat",
                *(f"worker-{role}" for role in ROLES)}
    assert expected <= set(SERVICES)


def test_one_worker_per_queue():
    roles = {svc["command"][-1] for name, svc in SERVICES.items() if name.startswith("worker-")}
    assert roles == set(QUEUES) == set(ROLES)


def test_traffic_workers_scale_and_long_running_services_report_health():
    traffic = SERVICES["worker-traffic"]
    assert traffic["deploy"]["replicas"] >= 2 and "container_name" not in traffic  # --scale works
    for name in ("redis", "postgres", "reftarget", "api",
                 *(f"worker-{role}" for role in ROLES)):
        assert SERVICES[name].get("healthcheck", {}).get("test"), name
    # a worker is healthy once it announces itself: the command it runs must exist
    test = SERVICES["worker-traffic"]["healthcheck"]["test"]
    assert test[1:3] == ["chaosfleet", "workers"] and "--here" in test
    assert "--here" in {o for p in main.commands["workers"].params for o in p.opts}


def test_the_api_service_serves_on_a_token():
    api = SERVICES["api"]
    assert api["command"][:2] == ["chaosfleet", "api"]
    assert "CHAOSFLEET_API_TOKEN" in api["environment"]
    assert any(port.startswith("127.0.0.1:") for port in api["ports"])  # not on every address


def test_images_are_pinned():
    for name, svc in SERVICES.items():
        image = svc.get("image", "")
        assert image and not image.endswith(":latest") and ":" in image, name


def test_toxiproxy_image_matches_the_pinned_server_version():
    script = (REPO / "scripts" / "services.sh").read_text()
    pinned = re.search(r'TOXIPROXY_VERSION:-v([\d.]+)', script).group(1)
    assert SERVICES["toxiproxy"]["image"].endswith(f":{pinned}")


@pytest.mark.parametrize("name", [n for n, s in SERVICES.items() if "CHAOSFLEET_REDIS_URL" in
                                  (s.get("environment") or {})])
def test_fleet_environment_names_real_settings(name):
    fields = set(Settings.model_fields)
    for var in SERVICES[name]["environment"]:
        if var.startswith("CHAOSFLEET_"):
            assert var.removeprefix("CHAOSFLEET_").lower() in fields, var
        else:  # the one other variable: the password the pool-exhaustion fault uses
            assert var == "REFTARGET_DB_PASSWORD", var


def test_compose_fleet_config_is_valid_and_allowlisted():
    env = SERVICES["worker-control"]["environment"]
    config = load_config(REPO / env["CHAOSFLEET_CONFIG_PATH"].removeprefix("/app/"))
    reference = config.target("reference")
    assert set(reference.proxies) <= set(config.allowlist.proxies)
    target_env = SERVICES["reftarget"]["environment"]
    ports = {p.listen.split(":")[1] for p in reference.proxies.values()}
    assert {target_env["REFTARGET_DATABASE_URL"].split(":")[-1].split("/")[0],
            target_env["REFTARGET_REDIS_URL"].split(":")[-1].split("/")[0]} <= ports


def test_every_dockerfile_copy_source_exists():
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), src


def test_celery_settings_lose_no_task():
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_retry_on_worker_lost
    assert not conf.worker_cancel_long_running_tasks_on_connection_loss
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] > Settings().max_run_seconds
    assert conf.task_time_limit and conf.worker_soft_shutdown_timeout > 0
    routes = {name: route["queue"] for name, route in conf.task_routes.items()}
    assert routes["chaosfleet.run_slice"] == "traffic"
    assert routes["chaosfleet.apply_fault"] == routes["chaosfleet.revert_fault"] == "faults"
    assert routes["chaosfleet.run_scenario"] == "control"
    assert conf.beat_schedule["revert-expired-leases"]["task"] == "chaosfleet.revert_expired"


def test_beat_evaluates_early_warnings_on_the_control_queue_from_settings():
    from beat_schedule import build_beat_schedule
    from workers.app import app
    from workers.tasks import evaluate_warnings

    entry = build_beat_schedule(Settings(warning_period=42))["evaluate-early-warnings"]
    assert entry["task"] == evaluate_warnings.name == "chaosfleet.evaluate_warnings"
    assert entry["schedule"] == 42 and entry["options"]["queue"] == "control"
    assert app.conf.task_routes["chaosfleet.evaluate_warnings"]["queue"] == "control"


def test_the_fleets_redis_clients_parse_replies_in_c():
    """hiredis is pinned for the slices' round trips (bench/RESULTS.md); without it,
    redis-py falls back to its Python parser without a word."""
    from redis._parsers import _HiredisParser

    from chaosfleet.fleet import connect_redis

    client = connect_redis("redis://127.0.0.1:1/0")  # never connects
    assert isinstance(client.connection_pool.make_connection()._parser, _HiredisParser)
