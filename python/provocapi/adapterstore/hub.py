"""An adapter's two files from a Hugging Face repo, with `huggingface_hub`.

The endpoint is passed on every call (the library reads HF_ENDPOINT once, at
import, which a gateway must not depend on); a token is passed through to this
one fetch and kept nowhere. Only `adapter_config.json` and
`adapter_model.safetensors` are fetched, the weights only once their announced
size fits the upload limit. `huggingface_hub` (a dependency of the plain
install) is imported here only, on the first fetch: the gateway's start does
not pay for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..lora_files import CONFIG_FILE, WEIGHTS_FILE


class HubFetchFailed(Exception):
    """Why the repo's adapter could not be fetched, worded for the adapter's `error`."""


def fetch(
    endpoint: str,
    repo: str,
    revision: str | None,
    token: str | None,
    into: Path,
    max_bytes: int,
    timeout_s: float,
) -> int:
    """Downloads both files into `into`; returns the weights' size."""
    try:
        import huggingface_hub as hub
        from huggingface_hub import errors
    except ImportError:
        raise HubFetchFailed(
            "this gateway cannot fetch from Hugging Face: huggingface_hub is missing from "
            "its install (reinstall provocapi)"
        ) from None
    url = hub.hf_hub_url(repo, WEIGHTS_FILE, revision=revision, endpoint=endpoint)
    try:
        meta = hub.get_hf_file_metadata(url, token=token or False, timeout=timeout_s,
                                        endpoint=endpoint)  # fmt: skip
        if meta.size is not None and meta.size > max_bytes:
            raise HubFetchFailed(
                f"{repo}: {WEIGHTS_FILE} is {meta.size} bytes, above the limit of {max_bytes}"
            )
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            hub.hf_hub_download(
                repo,
                name,
                revision=revision,
                token=token or False,
                endpoint=endpoint,
                local_dir=into,
                etag_timeout=timeout_s,
            )
    except errors.GatedRepoError:
        raise HubFetchFailed(f"{repo} is a gated repo: pass an hf_token with access") from None
    except errors.RepositoryNotFoundError:
        raise HubFetchFailed(
            f"{repo} does not exist, or is private and no hf_token with access was given"
        ) from None
    except errors.RevisionNotFoundError:
        raise HubFetchFailed(f"{repo} has no revision '{revision}'") from None
    except errors.EntryNotFoundError:
        raise HubFetchFailed(
            f"{repo} has no {CONFIG_FILE} and {WEIGHTS_FILE} (pickled .bin weights are "
            "refused: convert them to safetensors)"
        ) from None
    except HubFetchFailed:
        raise
    except Exception as exc:  # network, server errors: the reason, not a traceback
        raise HubFetchFailed(f"{repo}: the hub could not be read ({type(exc).__name__})") from None
    shutil.rmtree(into / ".cache", ignore_errors=True)  # the library's own bookkeeping
    size = (into / WEIGHTS_FILE).stat().st_size
    if size > max_bytes:
        raise HubFetchFailed(f"{repo}: {WEIGHTS_FILE} is above the limit of {max_bytes} bytes")
    return size
