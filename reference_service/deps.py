"""FastAPI dependencies, as `Annotated` aliases the routers use."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .clients import Client, identify
from .config import Settings
from .lifecycle import Lifecycle
from .pipeline import ChatPipeline


def _pipeline(request: Request) -> ChatPipeline:
    return request.app.state.pipeline


def _lifecycle(request: Request) -> Lifecycle:
    return request.app.state.lifecycle


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _request_id(request: Request) -> str:
    return request.state.request_id


def _log_fields(request: Request) -> dict:
    return request.state.log_fields


def _client(request: Request) -> Client:
    return identify(request, request.app.state.settings)


def _response_headers(request: Request) -> dict:
    return request.state.response_headers


def _timings(request: Request) -> dict:
    return request.state.timings


PipelineDep = Annotated[ChatPipeline, Depends(_pipeline)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RequestIdDep = Annotated[str, Depends(_request_id)]
LogFieldsDep = Annotated[dict, Depends(_log_fields)]
ClientDep = Annotated[Client, Depends(_client)]
ResponseHeadersDep = Annotated[dict, Depends(_response_headers)]
TimingsDep = Annotated[dict, Depends(_timings)]
