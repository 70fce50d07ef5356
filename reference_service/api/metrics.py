"""GET /metrics: Prometheus text format (summed over workers with --workers N)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}})
async def metrics(request: Request) -> Response:
    """Requests, latency, gateway overhead, time to first token, tokens and cost by model,
    cache, routing, rate limiting, safety, breaker state, requests in flight."""
    m = request.app.state.metrics
    breakers = getattr(request.app.state, "breakers", None)
    if breakers is not None:
        m.set_breakers(breakers.states())
    body, content_type = m.exposition()
    return Response(body, media_type=content_type)
