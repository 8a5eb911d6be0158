"""Worker pools: which worker of a model takes a call, and what happens when it fails.

`Router.dispatch(call, attempt, keepalive)` is the pipeline's one entry; the pick itself
is the core's (`_core.RoutePool`) over counters every process shares.
"""

from .pool import ModelPool, Worker
from .router import Router

__all__ = ["ModelPool", "Router", "Worker"]
