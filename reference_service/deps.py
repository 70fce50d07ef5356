"""FastAPI dependencies, as `Annotated` aliases the routers use.

All `async def`: FastAPI runs a plain `def` dependency in its thread pool, and eight of them
per request meant thread hand-offs and GIL waits on every request (found with py-spy; see
docs/BENCHMARKS.md, "Gateway overhead").
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .clients import Client, identify
from .config import Settings
from .lifecycle import Lifecycle
from .pipeline import ChatPipeline


async def _pipeline(request: Request) -> ChatPipeline:
    return request.app.state.pipeline


async def _lifecycle(request: Request) -> Lifecycle:
    return request.app.state.lifecycle


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _request_id(request: Request) -> str:
    return request.state.request_id


async def _log_fields(request: Request) -> dict:
    return request.state.log_fields


async def _client(request: Request) -> Client:
    return identify(request, request.app.state.settings)


async def _response_headers(request: Request) -> dict:
    return request.state.response_headers


async def _timings(request: Request) -> dict:
    return request.state.timings


PipelineDep = Annotated[ChatPipeline, Depends(_pipeline)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestIdDep = Annotated[str, Depends(_request_id)]
LogFieldsDep = Annotated[dict, Depends(_log_fields)]
ClientDep = Annotated[Client, Depends(_client)]
ResponseHeadersDep = Annotated[dict, Depends(_response_headers)]
TimingsDep = Annotated[dict, Depends(_timings)]
