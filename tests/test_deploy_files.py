"""The deployment files, validated offline: Kubernetes manifests against the API's schemas
(kubernetes-validate, strict), docker-compose.yml against the Compose specification's
schema (as vendored by check-jsonschema), the Dockerfile for the properties the docs claim;
and the three kept consistent with the service (probe paths, port, drain time)."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

K8S = Path("deploy/k8s")
K8S_VERSION = "1.33.0"  # a release most clusters run today; the manifests use only GA APIs


def k8s_docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


@pytest.mark.parametrize("name,doc", k8s_docs(), ids=[n for n, _ in k8s_docs()])
def test_kubernetes_manifests_are_valid(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any error


def test_a_broken_manifest_is_caught():
    _, deployment = next((n, d) for n, d in k8s_docs() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["prot"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present


def test_deployment_matches_the_service():
    from reference_service.app import create_app
    from tests.support import make_settings

    docs = dict(k8s_docs())
    dep = next(d for d in docs.values() if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    routes = set(create_app(make_settings()).openapi()["paths"])
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez" in routes
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
    assert c["ports"][0]["containerPort"] == 8000
    drain = float(
        next(d for d in docs.values() if d["kind"] == "ConfigMap")["data"]["DRAIN_TIMEOUT_S"]
    )
    pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
    # SIGKILL must not come before the drain (after the preStop) and uvicorn's 5 s are over
    assert pod["terminationGracePeriodSeconds"] >= drain + pre_stop + 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    hpa = next(d for d in docs.values() if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    svc = next(
        d
        for d in docs.values()
        if d["kind"] == "Service" and d["metadata"]["name"] == dep["metadata"]["name"]
    )
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


def compose_schema() -> dict:
    path = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(path.read_text())


def test_compose_file_is_valid_and_consistent():
    compose = yaml.safe_load(Path("docker-compose.yml").read_text())
    jsonschema.validate(compose, compose_schema())
    gw = compose["services"]["gateway"]
    assert gw["environment"]["OPENAI_BASE_URL"].startswith("http://mock-llm:9000/")
    assert gw["environment"]["REDIS_URL"].startswith("redis://redis:")
    grace = int(gw["stop_grace_period"].rstrip("s"))
    assert grace >= float(gw["environment"]["DRAIN_TIMEOUT_S"]) + 5
    assert compose["services"]["redis"]["image"].startswith("redis:8")


def test_a_broken_compose_file_is_caught():
    compose = yaml.safe_load(Path("docker-compose.yml").read_text())
    compose["services"]["gateway"]["depends_on"]["redis"]["condition"] = "whenever"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(compose, compose_schema())


def test_dockerfile_properties():
    text = Path("Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) == 2, "a build stage and a slim runtime stage"
    final = stages[-1]
    assert final.startswith("python:3.11-slim")
    user = re.findall(r"(?m)^USER (\S+)", final)
    assert user and user[-1] not in ("root", "0")
    assert "HF_HUB_OFFLINE=1" in final
    assert re.search(r"download\.pytorch\.org/whl/cpu", stages[0]), "CPU-only torch"
    for src in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", text):
        for part in src.split():
            assert Path(part).exists(), part
    # the default embedder's ONNX file is built from the packaged weights with the image
    assert "reference_service.cache export-onnx" in stages[0]
    assert "COPY --from=build /opt/onnx /opt/onnx" in final
    assert "EMBEDDER_ONNX_DIR=/opt/onnx" in final
    assert 'ENTRYPOINT ["python", "-m", "reference_service"]' in final
    assert "EXPOSE 8000" in final
