"""GET /: a small page where a person types a question and watches tokens stream."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from ..deps import IndexHtmlDep

router = APIRouter(tags=["page"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(html: IndexHtmlDep) -> HTMLResponse:
    return HTMLResponse(html)
