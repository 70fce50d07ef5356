"""GET /metrics: Prometheus text format (summed over workers with --workers N)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import MetricsDep, OptionalServicesDep
from ..lifecycle import PROBE

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    openapi_extra=PROBE,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def metrics(m: MetricsDep, services: OptionalServicesDep) -> Response:
    """Requests, latency, gateway overhead, time to first token, tokens and cost by model,
    cache, routing, rate limiting, safety, breaker state, requests in flight."""
    if services is not None:
        m.set_breakers(services.breakers.states())
    body, content_type = m.exposition()
    return Response(body, media_type=content_type)
