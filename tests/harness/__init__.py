"""The one harness for tests that run real processes: gateways (`provocapi serve`),
simulators, and whatever else a test starts (redis-server, ClickHouse).

- procs.py: a child process in its own process group, with its log; the CLI.
- waiting.py: wait for an endpoint, poll a condition (sync and async).
- gateway.py: a `provocapi serve` process from a config text (or the embedded
  default), its keys, kill -9, metrics.
- proctree.py: the processes of a gateway (its Granian workers, flusher, batch runner,
  simulators).
- sims.py: simulators, as processes or served on the test's event loop.

Free ports come from the package (`provocapi.netutil`), like the launcher's.
"""
