"""POST /admin/reload: apply the config file again, in every worker process (admin key)."""

from __future__ import annotations

from ..asgi import Request
from ..config import ConfigError
from ..error_catalog import ADMIN_DISABLED, ADMIN_KEY_REQUIRED, INVALID_CONFIG
from ..gateway import Gateway


def require_admin(gw: Gateway, req: Request) -> None:
    if not gw.admin_key:
        raise ADMIN_DISABLED.build()
    if not gw.is_admin(req):
        raise ADMIN_KEY_REQUIRED.build()


async def reload(gw: Gateway, req: Request) -> str:
    require_admin(gw, req)
    try:
        done = gw.reloader.reload()
    except ConfigError as exc:
        raise INVALID_CONFIG.build(reason=exc) from None
    models = [m.id for m in gw.cfg.models]
    await req.respond_json(
        200,
        {
            "status": "reloaded",
            "generation": done.generation,
            "models": models,
            "not_applied": done.not_applied,
        },
    )
    return "-"
