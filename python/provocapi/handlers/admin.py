"""POST /admin/reload: apply the config file again, in every worker process (admin key)."""

from __future__ import annotations

from ..asgi import Request
from ..config import ConfigError
from ..errors import ApiError
from ..gateway import Gateway


def require_admin(gw: Gateway, req: Request) -> None:
    if not gw.admin_key:
        raise ApiError(
            403,
            "Admin endpoints are off: set [server].admin_key or PROVOCAPI_ADMIN_KEY.",
            code="admin_disabled",
        )
    if not gw.is_admin(req):
        raise ApiError(401, "This endpoint needs the admin key.", code="invalid_api_key")


async def reload(gw: Gateway, req: Request) -> str:
    require_admin(gw, req)
    try:
        gen = gw.reloader.reload()
    except ConfigError as exc:
        raise ApiError(400, f"The config was not reloaded: {exc}", code="invalid_config") from None
    await req.respond_json(
        200, {"status": "reloaded", "generation": gen, "models": [m.id for m in gw.cfg.models]}
    )
    return "-"
