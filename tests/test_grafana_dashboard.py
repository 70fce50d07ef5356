"""The Grafana dashboard (deploy/grafana/) and its Prometheus, checked offline: every panel's
query parses as PromQL (promql-parser, the Rust parser's Python binding) and names only
metrics and labels the service exports, as read from its /metrics after requests that make
each of them appear; the provisioning files and the compose file's `monitoring` profile fit
together. No Grafana or Prometheus runs here (no container engine on the development
machine): what they would read is what is checked."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.clock import FakeClock
from tests.support import make_settings, services_of

GRAFANA = Path("deploy/grafana")
DASHBOARD = GRAFANA / "dashboards" / "llm-gateway.json"
# Grafana's own variables, replaced by what Grafana would put there before PromQL sees them.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$tenant": "cs101",
}
SCRAPE_LABELS = {"job", "instance"}  # added by Prometheus to every series it scrapes
KEYS = {
    "sk-class-key-0123456789": {"tenant": "cs101"},
    "sk-broke-key-0123456789": {"tenant": "broke"},
}


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, expr) of every panel target and templating query."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard["panels"])
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["query"]["query"]))
    return out


def used(expr: str) -> list[tuple[str, set[str], set[str]]]:
    """(metric, labels in its selector, labels an enclosing aggregation or vector match
    names) for every selector in a PromQL expression."""
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    if expr.startswith("label_values("):  # Grafana's variable query, not PromQL
        metric, _, label = expr[len("label_values(") : -1].partition(",")
        return [(metric.strip(), {label.strip()}, set())]
    found: list[tuple[str, set[str], set[str]]] = []

    def visit(node, outer: set[str]) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers}
            found.append((node.name, labels, set(outer)))
            return
        if isinstance(node, promql_parser.MatrixSelector):
            visit(node.vector_selector, outer)
            return
        if isinstance(node, promql_parser.AggregateExpr):
            labels = set(node.modifier.labels) if node.modifier else set()
            visit(node.expr, outer | labels)
            if node.param is not None:
                visit(node.param, outer)
            return
        if isinstance(node, promql_parser.BinaryExpr):
            matching = node.modifier.matching if node.modifier else None
            labels = set(matching.labels) if matching else set()
            if node.modifier:  # group_left(b) / group_right(b)
                labels |= set(node.modifier.group_labels or [])
            visit(node.lhs, outer | labels)
            visit(node.rhs, outer | labels)
            return
        if isinstance(node, promql_parser.Call):
            for arg in node.args:
                visit(arg, outer)
            return
        for child in ("expr",):  # ParenExpr, UnaryExpr, SubqueryExpr
            if hasattr(node, child):
                visit(getattr(node, child), outer)

    visit(promql_parser.parse(expr), set())
    return found


def problems(dashboard: dict, exported: dict[str, set[str]]) -> list[str]:
    """What in the dashboard the service does not export (empty: all fine)."""
    out = []
    for where, expr in queries(dashboard):
        try:
            selectors = used(expr)
        except Exception as exc:
            out.append(f"{where}: not PromQL ({exc})")
            continue
        if not selectors:
            out.append(f"{where}: reads no metric")
        for metric, labels, grouping in selectors:
            if metric not in exported:
                out.append(f"{where}: {metric} is not exported")
                continue
            known = exported[metric] | SCRAPE_LABELS
            if unknown := (labels | grouping) - known - {"__name__"}:
                out.append(f"{where}: {metric} has no label {sorted(unknown)}")
    return out


@pytest.fixture(scope="module")
def exported(mock_server, redis_url):
    """Metric name -> label names, from /metrics after requests that make every metric the
    dashboard reads appear: keyed requests (tenant metrics), a cache hit, a stream (time to
    first token), a budget refusal, an upstream failure that opens a breaker, a fallback."""
    import redis as sync_redis

    sync_redis.Redis.from_url(redis_url).flushdb()
    mock_server.state.reset()
    settings = make_settings(
        openai_base_url=mock_server.base_url,
        redis_url=redis_url,
        class_mode=True,
        api_keys=KEYS,
        breaker_failure_threshold=1,
        retry_max_attempts=1,
    )
    app = create_app(settings, clock=FakeClock())
    with ThreadedServer(app) as s:
        s.run_in_loop(services_of(app).keys.set_tenant("broke", 1e-12))  # nothing
        ok = {"Authorization": "Bearer sk-class-key-0123456789"}
        ask = {"message": "What is HBM3?", "model": "gpt-4o-mini"}
        assert httpx.post(s.url + "/chat", json=ask, headers=ok).status_code == 200
        assert httpx.post(s.url + "/chat", json=ask, headers=ok).json()["cache"] == "HIT"
        with httpx.stream(
            "POST", s.url + "/chat/stream", json={**ask, "model": "gpt-4o"}, headers=ok
        ) as r:
            r.read()
        broke = {"Authorization": "Bearer sk-broke-key-0123456789"}
        assert httpx.post(s.url + "/chat", json=ask, headers=broke).status_code == 429
        mock_server.state.fail_next(1, "500")
        failed = httpx.post(s.url + "/chat", json={**ask, "message": "What is NVLink?"}, headers=ok)
        assert failed.status_code == 502  # and gpt-4o-mini's breaker opens
        routed = httpx.post(s.url + "/chat/smart", json={"message": "What is DDR5?"}, headers=ok)
        assert routed.json()["routing"]["fallback_from"] == "gpt-4o-mini"
        text = httpx.get(s.url + "/metrics").text
    mock_server.state.reset()
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_every_panel_names_only_metrics_and_labels_the_service_exports(exported):
    dashboard = json.loads(DASHBOARD.read_text())
    assert problems(dashboard, exported) == []


def test_the_dashboard_covers_what_an_operator_watches(exported):
    dashboard = json.loads(DASHBOARD.read_text())
    metrics = {m for _, expr in queries(dashboard) for m, _, _ in used(expr)}
    for needed in (
        "requests_total",
        "errors_total",
        "request_duration_seconds_bucket",
        "time_to_first_token_seconds_bucket",
        "overhead_seconds_bucket",
        "tokens_total",
        "cost_usd_total",
        "tenant_cost_usd_total",
        "tenant_tokens_total",
        "cache_requests_total",
        "cost_saved_usd_total",
        "breaker_state",
        "rate_limited_total",
        "in_flight_requests",
    ):
        assert f"llm_gateway_{needed}" in metrics, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(
        t["datasource"]["uid"] == "prometheus"
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    )


@pytest.mark.parametrize(
    "broken,complaint",
    [
        ("sum(rate(llm_gateway_request_total[1m]))", "not exported"),
        ("sum by (tenant) (rate(llm_gateway_cost_usd_total[1m]))", "no label ['tenant']"),
        ('sum(rate(llm_gateway_errors_total{kind="x"}[1m]))', "no label ['kind']"),
        ("sum(rate(llm_gateway_errors_total[1m])", "not PromQL"),
    ],
)
def test_a_broken_query_is_caught(exported, broken, complaint):
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"][1]["targets"][0]["expr"] = broken
    found = problems(dashboard, exported)
    assert len(found) == 1 and complaint in found[0]


def test_provisioning_and_the_monitoring_profile_fit_together():
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ][0]
    dashboard = json.loads(DASHBOARD.read_text())
    assert datasource["uid"] == "prometheus" and datasource["type"] == "prometheus"
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yml").read_text())[
        "providers"
    ][0]
    compose = yaml.safe_load(Path("docker-compose.yml").read_text())["services"]
    grafana, prometheus = compose["grafana"], compose["prometheus"]
    assert grafana["profiles"] == prometheus["profiles"] == ["monitoring"]
    assert "profiles" not in compose["gateway"]  # `docker compose up` stays as it was
    mounts = dict(v.rsplit(":", 1)[0].split(":") for v in grafana["volumes"])
    assert (
        Path(next(k for k, v in mounts.items() if v == provider["options"]["path"])).resolve()
        == DASHBOARD.parent.resolve()
    )
    assert (
        Path(next(k for k, v in mounts.items() if v == "/etc/grafana/provisioning")).resolve()
        == (GRAFANA / "provisioning").resolve()
    )
    assert datasource["url"] == "http://prometheus:9090"
    scrape = yaml.safe_load(Path("deploy/prometheus/prometheus.yml").read_text())
    target = scrape["scrape_configs"][0]["static_configs"][0]["targets"][0]
    assert target == "gateway:8000" and scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert any(v.startswith("./deploy/prometheus/prometheus.yml:") for v in prometheus["volumes"])
    assert dashboard["uid"] and dashboard["templating"]["list"][0]["name"] == "tenant"
