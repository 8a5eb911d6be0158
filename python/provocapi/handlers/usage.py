"""GET /v1/usage: the caller's tenant per day and model; any tenant with the admin key."""

from __future__ import annotations

import logging

from ..asgi import Request
from ..error_catalog import TENANT_FORBIDDEN, invalid
from ..gateway import Gateway
from ..usage.query import build_query, parse_params, render, store_unavailable
from ..usage.stores import StoreError

log = logging.getLogger("provocapi.usage")


async def usage(gw: Gateway, req: Request) -> str:
    admin = gw.is_admin(req)
    params = parse_params(req.scope.get("query_string", b""))
    asked = params.get("tenant")
    if admin:
        if not asked:
            raise invalid("With the admin key, name the tenant: &tenant=NAME.", param="tenant",
                          code="missing_required_parameter")  # fmt: skip
        tenant = asked
    else:
        key = gw.authenticate(req)
        if asked is not None and asked != key.tenant:
            raise TENANT_FORBIDDEN.build()
        tenant = key.tenant
    q = build_query(params, tenant, gw.cfg.usage.max_range_days)
    if q.model is not None:  # aliases and "model:adapter" name their resolved model
        base = q.model.rpartition(":")[0] or q.model
        known = gw.catalog.by_name.get(base)
        if known is not None:
            q = type(q)(q.tenant, q.start, q.end, known.id)
    try:
        rows = await gw.usage_store.usage(q)
    except StoreError as exc:
        log.warning("usage query failed: %s", exc)
        raise store_unavailable(exc) from None
    await req.respond_json(200, render(q, rows))
    return "-"
