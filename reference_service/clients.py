"""Who is calling: the tenant behind an API key, or in open dev mode a client id.

With API_KEYS set, a chat request must carry `Authorization: Bearer <key>`; the key alone
decides the tenant and its limits, so headers such as X-Client-ID change nothing. Without
keys (a laptop, a class demo) the lecture's X-Client-ID header is used as given, which any
client can spoof; without it, the peer's IP address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request

from .config import Settings
from .errors import Unauthorized
from .ratelimit import Limits

CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,64}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)


@dataclass(frozen=True)
class Client:
    id: str  # the rate-limit key: "key:<tenant>", "id:<x-client-id>" or "ip:<address>"
    tenant: str
    limits: Limits


def identify(request: Request, settings: Settings) -> Client:
    """The caller of this request, or 401 when keys are configured and none fits."""
    if settings.api_keys:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        key = settings.api_keys.get(token.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise Unauthorized("A valid API key is required: `Authorization: Bearer <key>`.",
                               headers={"WWW-Authenticate": "Bearer"})
        return Client(f"key:{key.tenant}", key.tenant,
                      Limits(key.rpm or settings.rate_limit_rpm, key.tpm or settings.rate_limit_tpm))
    limits = Limits(settings.rate_limit_rpm, settings.rate_limit_tpm)
    client_id = request.headers.get("x-client-id", "")
    if _CLIENT_ID.fullmatch(client_id):
        return Client(f"id:{client_id}", client_id, limits)
    host = request.client.host if request.client else "unknown"
    return Client(f"ip:{host}", "anonymous", limits)


def limited_client_key(x_client_id: str | None, client: Client, settings: Settings) -> str:
    """Whose budget a /chat/limited request takes from (the lecture's rule).

    Open mode: the `X-Client-ID` header's value, or "anonymous" when it is absent (so all
    anonymous callers share one budget, as in the lecture). With API_KEYS: the key's tenant,
    since a header is the caller's to choose."""
    if settings.api_keys:
        return client.id
    return f"id:{x_client_id or 'anonymous'}"  # the header's form is checked (422) at the edge
