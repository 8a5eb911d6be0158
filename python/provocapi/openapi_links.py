"""OpenAPI `links` of /openapi.json: what a created object's id opens next.

A client (or a stateful fuzzer) reads them as create → retrieve → delete: the id
a `POST /v1/files` answers is the `file_id` of `GET /v1/files/{file_id}`, and so on.
Every operation gets an `operationId` (`get_v1_files_file_id`) for the links to name.
"""

from __future__ import annotations

import re
from typing import Any

# (source path, source method) → [(target path, target method, {param: expression})]
_ID = "$response.body#/id"
LINKS: dict[tuple[str, str], list[tuple[str, str, dict[str, str]]]] = {
    ("/v1/files", "post"): [
        ("/v1/files/{file_id}", "get", {"file_id": _ID}),
        ("/v1/files/{file_id}/content", "get", {"file_id": _ID}),
        ("/v1/files/{file_id}", "delete", {"file_id": _ID}),
        ("/v1/batches", "post", {}),  # the file as a batch's input (BODY_LINKS)
    ],
    ("/v1/batches", "post"): [
        ("/v1/batches/{batch_id}", "get", {"batch_id": _ID}),
        ("/v1/batches/{batch_id}/cancel", "post", {"batch_id": _ID}),
        ("/v1/batch/{batch_id}/output", "get", {"batch_id": _ID}),
    ],
    ("/v1/batch", "post"): [
        ("/v1/batch/{batch_id}", "get", {"batch_id": _ID}),
        ("/v1/batch/{batch_id}/cancel", "post", {"batch_id": _ID}),
        ("/v1/batch/{batch_id}/output", "get", {"batch_id": _ID}),
        ("/v1/files/{file_id}", "get", {"file_id": "$response.body#/input_file_id"}),
    ],
    ("/v1/adapters", "post"): [
        ("/v1/adapters/{adapter_id}", "get", {"adapter_id": _ID}),
        ("/v1/adapters/{adapter_id}", "delete", {"adapter_id": _ID}),
    ],
    ("/v1/adapters/upload", "post"): [
        ("/v1/adapters/{adapter_id}", "get", {"adapter_id": _ID}),
        ("/v1/adapters/{adapter_id}", "delete", {"adapter_id": _ID}),
    ],
}


# links that fill a request body rather than parameters
BODY_LINKS: dict[tuple[str, str, str, str], dict[str, str]] = {
    ("/v1/files", "post", "/v1/batches", "post"): {
        "input_file_id": _ID,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    },
}


def operation_id(path: str, method: str) -> str:
    return f"{method}_" + "_".join(w for w in re.split(r"[^A-Za-z0-9]+", path) if w)


def add(paths: dict[str, Any]) -> None:
    """Name every operation and link each create's 200 to what its id opens."""
    for path, ops in paths.items():
        for method, op in ops.items():
            op["operationId"] = operation_id(path, method)
    for (path, method), targets in LINKS.items():
        ok = paths[path][method]["responses"]["200"]
        links: dict[str, Any] = {}
        for t_path, t_method, params in targets:
            link: dict[str, Any] = {"operationId": operation_id(t_path, t_method)}
            if params:
                link["parameters"] = params
            body = BODY_LINKS.get((path, method, t_path, t_method))
            if body is not None:
                link["requestBody"] = body
            links[operation_id(t_path, t_method)] = link
        ok["links"] = links
