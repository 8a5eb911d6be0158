"""A child process's lifeline to `provocapi serve`: its stdin is a pipe the
launcher (and every Granian worker, by inheritance) holds open, so EOF on it
means the parent let go and the child should finish and exit. Used by the usage
flusher and the batch runner processes. Granian workers and the simulator hold
no such pipe of their own: they end with the launcher by parent_death.py."""

from __future__ import annotations

import asyncio
import os


def stdin_closed(loop: asyncio.AbstractEventLoop) -> asyncio.Event:
    """Set once stdin reaches EOF (the launcher and every worker let go of the pipe)."""
    done = asyncio.Event()

    def readable() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            done.set()

    os.set_blocking(0, False)
    loop.add_reader(0, readable)
    return done
