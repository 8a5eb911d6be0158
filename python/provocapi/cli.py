"""The `provocapi` command: serve, keys, batch, probe, compare, worker-sim."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError
from .datadir import DataDirError, prepare
from .netutil import ListenRefused
from .storage.migrations import SchemaTooNew

DEFAULT_DATA_DIR = ".provocapi"


def _port(text: str) -> int:
    """A TCP port to listen on: 0 would be "any port" to the kernel, never printed back."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1..65535)")
    return int(text)


def _processes(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (1 or more)")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="provocapi", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the gateway (Granian, ASGI)")
    s.add_argument("--config", help="TOML config (default: the embedded catalogue, simulated)")
    s.add_argument("--host", help="listen address (default 127.0.0.1)")
    s.add_argument("--port", type=_port, help="listen port (default 8080)")
    s.add_argument("--workers", type=_processes, default=1, help="Granian worker processes")
    s.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="keys, state and usage store")
    s.add_argument(
        "--no-auth",
        action="store_true",
        help="keyless local mode: any API key or none, as tenant 'local' (loopback only)",
    )
    s.add_argument(
        "--unsafe-no-auth-public",
        action="store_true",
        help="allow keyless mode on a non-loopback address (anyone who can reach it may use it)",
    )

    k = sub.add_parser("keys", help="create, list and revoke API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create a key; prints it alone on the last line")
    kc.add_argument("--tenant", required=True)
    kc.add_argument("--models", help="comma-separated models this key is narrowed to")
    kc.add_argument("--rpm", type=int, help="requests per minute for this key")
    kc.add_argument("--tpm", type=int, help="tokens per minute for this key")
    kc.add_argument("--config", help="check --models against this config")
    kc.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    kl = ksub.add_parser("list", help="list keys (never their secrets)")
    kl.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    kr = ksub.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("id")
    kr.add_argument("--data-dir", default=DEFAULT_DATA_DIR)

    from .batch_cli.commands import add_parser as add_batch_parser

    add_batch_parser(sub)

    from .audit.cli import add_parsers as add_audit_parsers

    add_audit_parsers(sub)

    sub.add_parser("worker-sim", help="run the trtllm-serve simulator (see worker-sim --help)")
    return p


def _keys(args: argparse.Namespace) -> int:
    from .keys import KeyStore

    data = Path(args.data_dir).resolve()
    if args.keys_command != "create" and not data.exists():
        # a mistyped --data-dir: say so, rather than make it and list nothing
        print(f"error: no data dir {data}; give serve's --data-dir", file=sys.stderr)
        return 2
    prepare(data)  # a clear error, not sqlite's "unable to open"
    store = KeyStore(args.data_dir)
    if args.keys_command == "create":
        if not args.tenant.strip():
            print("error: --tenant must not be empty", file=sys.stderr)
            return 2
        models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        for name, value in (("--rpm", args.rpm), ("--tpm", args.tpm)):
            if value is not None and value <= 0:
                print(f"error: {name} must be positive", file=sys.stderr)
                return 2
        if models and args.config:
            from . import config as config_mod

            cfg = config_mod.load(args.config)
            known = {n for m in cfg.models for n in (m.id, *m.aliases)}
            unknown = [m for m in models if m not in known]
            if unknown:
                print(f"error: unknown model(s): {', '.join(unknown)}", file=sys.stderr)
                return 2
        secret, rec = store.create(args.tenant, models, args.rpm, args.tpm)
        scope = ", ".join(rec.models) if rec.models else "all of the tenant's models"
        print(f"created key {rec.id} for tenant {rec.tenant} ({scope})")
        print("store it now: it is shown only once")
        print(secret)
        return 0
    if args.keys_command == "list":
        rows = store.list()
        print(f"{'ID':<22} {'TENANT':<16} {'STATUS':<8} {'HINT':<20} MODELS")
        for r in rows:
            status = "revoked" if r.revoked else "active"
            scope = ",".join(r.models) if r.models else "*"
            print(f"{r.id:<22} {r.tenant:<16} {status:<8} {r.hint:<20} {scope}")
        return 0
    if store.revoke(args.id):
        print(f"revoked {args.id}")
        return 0
    print(f"error: no active key with id {args.id}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker-sim":
        from .sim.cli import main as sim_main

        return sim_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            from .launcher import serve

            return serve(
                args.config,
                args.host,
                args.port,
                args.workers,
                args.data_dir,
                no_auth=args.no_auth,
                unsafe_public=args.unsafe_no_auth_public,
            )
        if args.command == "keys":
            return _keys(args)
        if args.command == "batch":
            from .batch_cli.commands import run as run_batch

            return run_batch(args)
        if args.command == "probe":
            from .audit.cli import run_probe

            return run_probe(args)
        if args.command == "compare":
            from .audit.cli import run_compare

            return run_compare(args)
    except (ConfigError, SchemaTooNew, DataDirError, ListenRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
