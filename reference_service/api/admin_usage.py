"""The instructor's side of class mode, mounted only when ADMIN_TOKEN is set.

GET /admin        the instructor's page (static HTML; it holds no data and asks for the
                  admin token, which it sends as `Authorization: Bearer` to the API below)
GET /admin/usage  usage per key and tenant, totals and live counters (JSON, or CSV with
                  `?format=csv`); needs the admin token
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError
from starlette.responses import Response

from ..deps import ClockDep, MetricsDep, ServicesDep
from ..errors import KeyStoreUnavailable, ServiceError
from ..keys import NAME_PATTERN
from ..metrics import Metrics
from ..schemas import error_doc
from ..usage import report, to_csv
from .admin import require_admin

page = APIRouter(tags=["admin"])
router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={
        401: error_doc("no bearer token"),
        403: error_doc("wrong token"),
        404: error_doc("class mode is off (CLASS_MODE=false)"),
    },
)


class ClassModeOff(ServiceError):
    status, type = 404, "class_mode_off"


@cache
def _admin_html() -> str:
    return files("reference_service").joinpath("static/admin.html").read_text()


@page.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page() -> HTMLResponse:
    return HTMLResponse(_admin_html())


@router.get(
    "/usage",
    responses={
        200: {
            "content": {"application/json": {}, "text/csv": {}},
            "description": "usage per key and tenant",
        }
    },
)
async def usage(
    services: ServicesDep,
    clock: ClockDep,
    metrics: MetricsDep,
    format: Literal["json", "csv"] = "json",
    by: Literal["key", "tenant"] = "key",
    tenant: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> Response:
    """Per key and per tenant: requests, tokens, cost, saved by the cache, refusals by kind,
    last seen, and the current period's budget; `totals`, and `live` (requests in flight,
    breaker states). `?format=csv` gives one line per key (or per tenant with `by=tenant`)."""
    if services.keys is None:
        raise ClassModeOff("Usage is recorded in class mode only (CLASS_MODE=true).")
    try:
        data = await report(services.redis, clock.time(), services.settings.budget_timezone, tenant)
    except RedisError:
        raise KeyStoreUnavailable(
            "Usage cannot be read right now (Redis is unreachable); retry shortly.", retry_after=5
        ) from None
    if format == "csv":
        rows = data["keys"] if by == "key" else data["tenants"]
        return Response(
            to_csv(rows, by=by),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="usage-{by}.csv"'},
        )
    data["live"] = {"in_flight": _in_flight(metrics), "breakers": services.breakers.states()}
    for row in (*data["keys"], *data["tenants"]):
        row.pop("last_seen_unix", None)
    return JSONResponse(data)


def _in_flight(metrics: Metrics) -> int:
    """Requests being served by every worker, this one not counted."""
    body, _ = metrics.exposition()
    for family in text_string_to_metric_families(body.decode()):
        if family.name == "llm_gateway_in_flight_requests":
            return max(0, int(sum(s.value for s in family.samples)) - 1)
    return 0
