"""deploy/k8s/ without a cluster: every resource validates against the Kubernetes JSON schemas
(kubernetes-validate ships them, strict: unknown fields fail), and the manifests say what the
services need: probes on the health endpoints, resources, configuration from the ConfigMap,
secrets from the Secret, several matcher replicas in one consumer group."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import Settings
from tests.support.performance import PERFORMANCE

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to work on
SERVICES = ("profiles", "matcher", "notifier")
DEPLOYMENTS = (*SERVICES, "matcher-rounds")  # the matcher's rounds apart (docs/scaling.md)


# The matcher's performance settings as docs/scaling.md measured them (proposals on arrival:
# off in the code's defaults, on in a deployment).
def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    return [
        document
        for name in kustomization()["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text())
        if document
    ]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources() if r["kind"] == kind}


def test_kustomization_lists_every_manifest_in_the_folder() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(
    "resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}"
)
def test_each_resource_is_valid_kubernetes(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    broken = dict(of_kind("Deployment")["matcher"])
    broken["spec"] = {**broken["spec"], "replicas": "three"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def container(name: str) -> dict[str, Any]:
    deployment = of_kind("Deployment")[name]
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_each_service_runs_its_module_with_probes_resources_config_and_secrets(
    name: str,
) -> None:
    spec = container(name)
    module = spec["command"][-1]
    assert importlib.util.find_spec(f"{module}.__main__") is not None
    port_names = {port["name"] for port in spec["ports"]}
    assert spec["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert spec[probe]["httpGet"]["port"] in port_names
    assert set(spec["resources"]) == {"requests", "limits"}
    sources = {
        next(iter(source)): next(iter(source.values()))["name"] for source in spec["envFrom"]
    }
    assert sources == {"configMapRef": "bridgework-config", "secretRef": "bridgework-secrets"}
    assert spec["image"] in {image["name"] for image in kustomization()["images"]}


def test_the_matcher_runs_several_replicas_in_one_consumer_group() -> None:
    assert of_kind("Deployment")["matcher"]["spec"]["replicas"] >= 2
    # One group: the group id comes from the service name, never from per-pod settings.
    config = of_kind("ConfigMap")["bridgework-config"]["data"]
    assert not any("GROUP" in key for key in config)


def test_secrets_carry_the_database_url_smtp_password_and_secret_key() -> None:
    secret = of_kind("Secret")["bridgework-secrets"]["stringData"]
    assert set(secret) == {"DATABASE_URL", "BRIDGEWORK_SMTP_PASSWORD", "BRIDGEWORK_SECRET_KEY"}
    config = of_kind("ConfigMap")["bridgework-config"]["data"]
    assert not set(secret) & set(config)


# What an operator puts in place of the Secret's placeholders (production refuses them).
OPERATORS_SECRET_KEY = "an-operators-own-secret-key-of-64-random-characters-0123456789ab"


def bridgework_variables(deployment: str) -> dict[str, str]:
    """The BRIDGEWORK_* environment of a Deployment's container: the ConfigMap, the Secret
    (its secret key as an operator sets it), and its own ``env`` entries, which take
    precedence (as Kubernetes applies them)."""
    variables = {
        **of_kind("ConfigMap")["bridgework-config"]["data"],
        **of_kind("Secret")["bridgework-secrets"]["stringData"],
        "BRIDGEWORK_SECRET_KEY": OPERATORS_SECRET_KEY,
        **{entry["name"]: entry["value"] for entry in container(deployment).get("env", [])},
    }
    return {k: v for k, v in variables.items() if k.startswith("BRIDGEWORK_")}


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_every_configured_variable_is_a_bridgework_setting(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {f"BRIDGEWORK_{field.upper()}" for field in Settings.model_fields}
    variables = bridgework_variables(name)
    assert set(variables) - fields == set()
    # And each value is one the service accepts at start-up (in production, strictly).
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.log_format == "json"


def test_the_matchers_performance_settings_are_those_docs_scaling_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = of_kind("ConfigMap")["bridgework-config"]["data"]
    assert {key: config.get(key) for key in PERFORMANCE} == PERFORMANCE
    for key, value in bridgework_variables("matcher").items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.propose_on_arrival is True
    assert settings.consumer_fetch_max_wait_ms < 500  # not Kafka's default (docs/scaling.md)


def role(deployment: str) -> str | None:
    env = {entry["name"]: entry["value"] for entry in container(deployment).get("env", [])}
    return env.get("BRIDGEWORK_MATCHER_ROLE")


def test_the_matchers_role_is_explicit_and_the_rounds_deployment_solves_rounds_only() -> None:
    # The role is per Deployment, never in the shared ConfigMap.
    assert "BRIDGEWORK_MATCHER_ROLE" not in of_kind("ConfigMap")["bridgework-config"]["data"]
    assert role("matcher") == "events"
    assert role("matcher-rounds") == "rounds"
    rounds = container("matcher-rounds")
    assert rounds["command"] == container("matcher")["command"]
    assert rounds["image"] == container("matcher")["image"]
    deployments = of_kind("Deployment")
    # On by default: the consumers' GIL is theirs (docs/scaling.md, the sustained window).
    assert deployments["matcher-rounds"]["spec"]["replicas"] >= 1
    # Its pods are neither the matcher Service's nor counted by the matcher's disruption budget.
    rounds_labels = deployments["matcher-rounds"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        of_kind("Service")["matcher"]["spec"]["selector"],
        of_kind("PodDisruptionBudget")["matcher"]["spec"]["selector"]["matchLabels"],
    ):
        assert not selector.items() <= rounds_labels.items()


def test_each_kubernetes_service_selects_its_pods_and_names_a_container_port() -> None:
    for name in SERVICES:
        service = of_kind("Service")[name]
        labels = of_kind("Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {port["name"] for port in container(name)["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= ports


def single_broker_patch() -> dict[str, str]:
    overlay = yaml.safe_load((K8S / "single-broker-kafka" / "kustomization.yaml").read_text())
    assert overlay["resources"] == [".."]
    [patch] = overlay["patches"]
    assert patch["target"] == {"kind": "ConfigMap", "name": "bridgework-config"}
    data: dict[str, str] = yaml.safe_load(patch["patch"])["data"]
    return data


@pytest.mark.parametrize("layout", ["three brokers", "single broker"])
def test_each_kafka_layout_replicates_no_more_than_its_brokers_hold(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dict(of_kind("ConfigMap")["bridgework-config"]["data"])
    if layout == "single broker":
        assert set(single_broker_patch()) <= set(config)  # it changes, never adds
        config |= single_broker_patch()
    for key, value in config.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BRIDGEWORK_SECRET_KEY", OPERATORS_SECRET_KEY)
    settings = Settings()  # min.insync.replicas above the replication factor is refused here
    brokers = settings.kafka_bootstrap_servers.split(",")
    assert len(set(brokers)) == settings.kafka_replication_factor
    if layout == "three brokers":
        # acks=all then needs two copies, and one broker may be down.
        assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (3, 2)
    else:
        assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (1, 1)
