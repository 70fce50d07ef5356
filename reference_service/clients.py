"""Who is calling: the tenant behind an API key, or in open dev mode a client id.

With API_KEYS set, a chat request must carry `Authorization: Bearer <key>`; the key alone
decides the tenant and its limits, so headers such as X-Client-ID change nothing. Without
keys (a laptop, a class demo) the lecture's X-Client-ID header is used as given, which any
client can spoof; without it, the peer's IP address.

In class mode (CLASS_MODE=true) the key may also be one made with
`python -m reference_service keys create` and kept hashed in Redis (keys.py); such a client
carries its key's id and its budgets (the key's and its tenant's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from redis.exceptions import RedisError
from starlette.requests import Request

from .budgets import Budget
from .config import Settings
from .errors import KeyStoreUnavailable, Unauthorized
from .keys import KeyStore, env_key_id
from .ratelimit import Limits

CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:@\-]{1,64}$"
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)


@dataclass(frozen=True)
class Client:
    id: str  # the rate-limit key: "key:<tenant>", "id:<x-client-id>" or "ip:<address>"
    tenant: str
    limits: Limits
    key_id: str | None = None  # the key's public id (logs, usage), never the key itself
    budgets: tuple[Budget, ...] = ()  # class mode: the key's and its tenant's


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _no_key() -> Unauthorized:
    return Unauthorized(
        "A valid API key is required: `Authorization: Bearer <key>`.",
        headers={"WWW-Authenticate": "Bearer"},
    )


def identify(request: Request, settings: Settings) -> Client:
    """The caller of this request, or 401 when keys are configured and none fits."""
    if settings.api_keys:
        token = _bearer(request)
        key = settings.api_keys.get(token) if token else None
        if key is None:
            raise _no_key()
        return Client(
            f"key:{key.tenant}",
            key.tenant,
            Limits(key.rpm or settings.rate_limit_rpm, key.tpm or settings.rate_limit_tpm),
            key_id=env_key_id(token),
        )
    limits = Limits(settings.rate_limit_rpm, settings.rate_limit_tpm)
    client_id = request.headers.get("x-client-id", "")
    if _CLIENT_ID.fullmatch(client_id):
        return Client(f"id:{client_id}", client_id, limits)
    host = request.client.host if request.client else "unknown"
    return Client(f"ip:{host}", "anonymous", limits)


async def identify_in_class(
    request: Request, settings: Settings, store: KeyStore, now: float
) -> Client:
    """Class mode: the caller of this request by its key (API_KEYS first, then the keys in
    Redis), with its budgets; 401 without a known, active key."""
    token = _bearer(request)
    if not token:
        raise _no_key()
    try:
        if (env := settings.api_keys.get(token)) is not None:
            tenant = await store.tenant(env.tenant)
            budgets = [b for b in (env.budget(env_key_id(token)), tenant.budget()) if b]
            return Client(
                f"key:{env.tenant}",
                env.tenant,
                Limits(env.rpm or settings.rate_limit_rpm, env.tpm or settings.rate_limit_tpm),
                key_id=env_key_id(token),
                budgets=tuple(budgets),
            )
        found = await store.lookup(token, now)
    except RedisError:
        raise KeyStoreUnavailable(
            "API keys cannot be checked right now (the key store is unreachable); retry shortly.",
            retry_after=5,
        ) from None
    if found is None:
        raise _no_key()
    key = found.key
    if key.status != "active":
        raise Unauthorized(
            f"This API key ({key.id}) was revoked; ask your instructor for a new one.",
            code="key_revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    budgets = [b for b in (key.budget(), found.tenant.budget()) if b]
    return Client(
        f"key:{key.id}",
        key.tenant,
        Limits(key.rpm or settings.rate_limit_rpm, key.tpm or settings.rate_limit_tpm),
        key_id=key.id,
        budgets=tuple(budgets),
    )


def limited_client_key(x_client_id: str | None, client: Client, settings: Settings) -> str:
    """Whose budget a /chat/limited request takes from (the lecture's rule).

    Open mode: the `X-Client-ID` header's value, or "anonymous" when it is absent (so all
    anonymous callers share one budget, as in the lecture). With API_KEYS: the key's tenant;
    in class mode, the key: a header is the caller's to choose."""
    if settings.api_keys or client.key_id is not None:
        return client.id
    return f"id:{x_client_id or 'anonymous'}"  # the header's form is checked (422) at the edge
