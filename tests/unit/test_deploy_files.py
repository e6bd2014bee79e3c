"""The Docker-free stack and docker-compose.yml run the same Kafka, and compose is complete."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from shared.settings import Settings
from tests.support.performance import PERFORMANCE

ROOT = Path(__file__).resolve().parents[2]
POM_NAMESPACE = "http://maven.apache.org/POM/4.0.0"


def test_local_broker_and_compose_pin_the_same_kafka_version() -> None:
    pom = ET.parse(ROOT / "devtools" / "kafka" / "pom.xml")
    namespace = {"m": POM_NAMESPACE}
    version = pom.findtext("m:properties/m:kafka.version", namespaces=namespace)
    compose = (ROOT / "docker-compose.yml").read_text()
    assert version
    assert re.findall(r"image: apache/kafka:(\S+)", compose) == [version]


def test_compose_runs_every_service_with_the_infrastructure() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    services = set(re.findall(r"^  ([a-z-]+):$", compose, flags=re.MULTILINE))
    assert {"kafka", "postgres", "mailpit", "profiles", "matcher", "notifier"} <= services
    assert "matcher-rounds" in services  # the rounds in a process of their own
    for name in ("profiles", "matcher", "notifier"):
        assert f'command: ["python", "-m", "services.{name}"]' in compose


def test_compose_checks_each_service_on_its_health_endpoint() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ports = {"profiles": 8000, "matcher": 8001, "matcher-rounds": 8001, "notifier": 8001}
    for name, port in ports.items():
        check = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/health/ready" in check
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0]
        for job in prometheus["scrape_configs"]
    }
    assert targets == {name: f"{name}:{port}" for name, port in ports.items()}


def test_compose_sets_real_settings_with_the_deployments_performance_values() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    fields = {f"BRIDGEWORK_{name.upper()}" for name in Settings.model_fields}
    for name in ("profiles", "matcher", "matcher-rounds", "notifier"):
        env = {k: str(v) for k, v in compose["services"][name]["environment"].items()}
        assert {k for k in env if k.startswith("BRIDGEWORK_")} - fields == set(), name
        assert {key: env.get(key) for key in PERFORMANCE} == PERFORMANCE, name
    # The consumer proposes on arrival; the rounds run in a process of their own.
    services = compose["services"]
    assert services["matcher"]["environment"]["BRIDGEWORK_MATCHER_ROLE"] == "events"
    assert services["matcher-rounds"]["environment"]["BRIDGEWORK_MATCHER_ROLE"] == "rounds"
    assert services["matcher-rounds"]["command"] == services["matcher"]["command"]


def test_the_cluster_compose_file_runs_three_brokers_and_replicates_on_them() -> None:
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    text = (ROOT / "docker-compose.cluster.yml").read_text()
    cluster = yaml.safe_load(text)["services"]
    pom = ET.parse(ROOT / "devtools" / "kafka" / "pom.xml")
    version = pom.findtext("m:properties/m:kafka.version", namespaces={"m": POM_NAMESPACE})
    assert set(re.findall(r"image: apache/kafka:(\S+)", text)) == {version}
    brokers = {name: base.get(name, {}) | spec for name, spec in cluster.items()}
    brokers = {name: spec for name, spec in brokers.items() if name.startswith("kafka")}
    voters = {spec["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for spec in brokers.values()}
    [quorum] = voters  # every node knows the same three controllers
    node_ids = {spec["environment"]["KAFKA_NODE_ID"] for spec in brokers.values()}
    assert node_ids == {1, 2, 3}
    assert quorum == ",".join(f"{n}@{name}:9093" for n, name in enumerate(sorted(brokers), 1))
    fields = {f"BRIDGEWORK_{name.upper()}" for name in Settings.model_fields}
    for name in ("profiles", "matcher", "notifier"):
        env = base[name]["environment"] | cluster[name]["environment"]
        assert {k for k in env if k.startswith("BRIDGEWORK_")} <= fields
        settings = Settings.model_validate(
            {k.removeprefix("BRIDGEWORK_").lower(): v for k, v in env.items() if k in fields}
        )
        assert settings.kafka_bootstrap_servers.split(",") == [f"{b}:9092" for b in sorted(brokers)]
        assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)
