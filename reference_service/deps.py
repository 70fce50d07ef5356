"""FastAPI dependencies, as `Annotated` aliases: the only place that reads `app.state`.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, and eight of them
per request meant thread hand-offs and GIL waits on every request (found with py-spy; see
docs/BENCHMARKS.md, "Gateway overhead").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .clients import Client, identify, identify_in_class
from .clock import Clock
from .config import Settings
from .context import RequestContext, context_of
from .lifecycle import Lifecycle
from .metrics import Metrics
from .services import Services


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services  # set by the lifespan before traffic
    return services


async def _optional_services(request: Request) -> Services | None:
    """For probes, which answer before start-up is over too."""
    return getattr(request.app.state, "services", None)


async def _lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle = request.app.state.lifecycle
    return lifecycle


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def _context(request: Request) -> RequestContext:
    ctx = context_of(request.scope)
    assert ctx is not None, "RequestContextMiddleware runs first"
    return ctx


async def _client(request: Request) -> Client:
    services: Services = request.app.state.services
    if services.keys is not None:  # class mode: keys in Redis too, with budgets
        return await identify_in_class(
            request, services.settings, services.keys, request.app.state.clock.time()
        )
    return identify(request, request.app.state.settings)


async def _index_html(request: Request) -> str:
    html: str = request.app.state.index_html
    return html


ServicesDep = Annotated[Services, Depends(_services)]
OptionalServicesDep = Annotated["Services | None", Depends(_optional_services)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
SettingsDep = Annotated[Settings, Depends(_settings)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
ClockDep = Annotated[Clock, Depends(_clock)]
ContextDep = Annotated[RequestContext, Depends(_context)]
ClientDep = Annotated[Client, Depends(_client)]
IndexHtmlDep = Annotated[str, Depends(_index_html)]
