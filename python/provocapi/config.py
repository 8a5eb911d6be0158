"""The gateway's configuration: a TOML file, checked strictly at load time.

`docs/config.md` documents every field. Unknown keys are errors (a typo must
not silently fall back to a default in production).
"""

from __future__ import annotations

import math
import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from .cors_headers import HeaderNameError, header_names
from .cors_origins import OriginPatternError, compile_patterns
from .vocab import BUILTIN, MissingVocabulary, builtin_path, spec_for

ModelKind = Literal["chat", "completion", "embedding"]
Family = Literal["llama3", "qwen2", "mistral"]


class Capabilities(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    tools: bool = False
    json_mode: bool = False  # response_format json_object
    json_schema: bool = False  # response_format json_schema (the worker's guided decoding)
    logprobs: bool = False  # logprobs / top_logprobs


class SamplingDefaults(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Sent explicitly when a client gives none, so a worker's generation config cannot decide."""

    temperature: float = 1.0
    top_p: float = 1.0


class AdapterConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    lora_path: str
    lora_int_id: int  # below STORE_LORA_ID_START: the store allocates from there up
    tenants: list[str] | None = None  # None: every tenant sees it


# `lora_int_id`s at or above this belong to the adapter store (never reused); the
# config's must stay below, so the two can never name the same worker cache entry.
STORE_LORA_ID_START = 1_000_000


class LoraConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The LoRA the model's workers were started with (trtllm-serve's lora_config)."""

    target_modules: list[str] = msgspec.field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    max_rank: int = 64
    # what uploaded weights may be stored as
    dtypes: list[str] = msgspec.field(default_factory=lambda: ["BF16", "F16", "F32"])


class ArchitectureConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The base model's shapes an adapter must fit (built in for the catalogue)."""

    layers: int
    hidden_size: int
    intermediate_size: int
    heads: int
    kv_heads: int
    head_dim: int  # never hidden_size / heads: Mistral Small 3 is 5120 with 32 x 128


class WorkerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One worker of a model's pool; a bare URL string in `workers` means all defaults."""

    url: str
    max_concurrency: int = 0  # 0: no cap (the worker's own queue decides)
    weight: int = 1
    max_loras: int = 0  # adapters the worker keeps loaded (trtllm-serve's max_loras)


class SplitConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A weighted share of the model's calls to another pool (a rollout)."""

    percent: float
    workers: list[str | WorkerConfig]


class FallbackConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An external OpenAI-compatible provider for when the pool cannot take a call."""

    base_url: str  # as the OpenAI SDK takes it, ending in /v1
    api_key: str | None = None
    api_key_env: str | None = None  # read the key from this environment variable instead
    model: str | None = None  # the provider's model name (default: upstream_model or id)


class WakeConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How to wake a pool scaled to zero: an HTTP POST or a command (one of them)."""

    url: str | None = None
    command: list[str] | None = None


class ModelConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: str
    kind: ModelKind
    workers: list[str | WorkerConfig] = []
    family: Family | None = None
    upstream_model: str | None = None
    context_length: int = 8192
    max_output_tokens: int = 8192
    default_max_tokens: int = 1024
    aliases: list[str] = []
    capabilities: Capabilities = Capabilities()
    sampling: SamplingDefaults = SamplingDefaults()
    max_top_logprobs: int = 20  # top_logprobs above it → 400
    # Sent as trtllm-serve's `priority` (0..1, higher first) on batch lines only;
    # None: not sent (workers older than the field reject it as unknown).
    batch_priority: float | None = None
    dimensions: int | None = None
    min_dimensions: int | None = None
    # Embedding models: OpenAI's limits on one request (admission/embedding_limits.py).
    max_inputs: int = 2048
    max_input_tokens: int = 8192
    max_request_tokens: int = 300_000
    request_timeout_s: float | None = None
    adapters: list[AdapterConfig] = []
    lora: LoraConfig = LoraConfig()
    architecture: ArchitectureConfig | None = None  # None: the built-in one, if any
    split: SplitConfig | None = None
    fallback: FallbackConfig | None = None
    wake: WakeConfig | None = None
    # What prompts are counted with: a built-in name, "none", or a file path.
    tokenizer: str | None = None
    # Launcher-only: `provocapi serve` starts a local worker simulator for this
    # model and fills `workers`. The gateway itself never looks at it.
    simulate: bool = False

    @property
    def served_name(self) -> str:
        return self.upstream_model or self.id


class TenantConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    tier: str = "default"
    models: list[str] | None = None  # None: every model


class ModelLimits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Per model within a tenant: requests and tokens per minute (None: no limit)."""

    rpm: int | None = None
    tpm: int | None = None


class TierConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A rate-limit tier: per-minute limits per key, per tenant, per model within a tenant."""

    key_rpm: int | None = None
    key_tpm: int | None = None
    tenant_rpm: int | None = None
    tenant_tpm: int | None = None
    batch_tpm: int | None = None  # tokens a minute of the tenant's batch lines (they wait)
    models: dict[str, ModelLimits] = {}


AuthMode = Literal["key", "none"]


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # "none": keyless local mode, every caller is tenant `local` (loopback only unless
    # `serve --unsafe-no-auth-public`); admin routes still need the admin key
    auth: AuthMode = "key"
    max_body_bytes: int = 16 * 1024 * 1024
    request_timeout_s: float = 590.0
    connect_timeout_s: float = 5.0
    admin_key: str | None = None
    retry_after_s: int = 1
    # after SIGTERM: seconds /health/ready answers 503 while still serving, before
    # the listener closes and in-flight calls finish (a load balancer's grace time)
    drain_delay_s: float = 0.0
    # after the drain: seconds a Granian worker may take to finish its calls and stop,
    # then it is killed (one that missed its signal, or hung, kept serve from exiting);
    # None: request_timeout_s + 10, when every call it had has ended anyway
    stop_timeout_s: float | None = None
    # slow clients (docs/security.md): Granian's HTTP/1 header read timeout, which is
    # also its idle keep-alive timeout; the app's whole-body deadline; Granian's
    # connections per worker process (None: backlog // workers) and listen backlog
    header_read_timeout_s: float = 10.0
    body_read_timeout_s: float = 30.0
    # a streamed answer's send that takes nothing for this long: the client is cut
    # (write_deadline.py); nginx's send_timeout, the same idea, defaults to 60 s too
    write_timeout_s: float = 60.0
    backpressure: int | None = None
    backlog: int = 2048
    # SCHED_BATCH: a woken thread waits for the running one's turn to end, less CPU a request
    # when saturated, more latency below. "auto": each worker's runtime threads only while its
    # loop is saturated (sched_adaptive.py); true: every worker thread (sched_policy.py)
    sched_batch: bool | Literal["auto"] = "auto"
    # web pages that may call from a browser (cors_origins.py); None: any with keys,
    # this machine's only when keyless (docs/config.md says why)
    cors_allow_origins: list[str] | None = None
    # request headers pages may send besides the gateway's own (cors_headers.py)
    cors_allow_headers: list[str] = msgspec.field(default_factory=list)


StoreKind = Literal["sqlite", "clickhouse"]


class UsageConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Usage accounting: the local spool and the store it drains into (docs/config.md)."""

    store: StoreKind = "sqlite"
    sqlite_path: str | None = None  # default: DATA_DIR/usage.db
    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_database: str = "provocapi"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    clickhouse_timeout_s: float = 10.0
    spool_dir: str | None = None  # default: DATA_DIR/usage-spool
    spool_max_bytes: int = 1 << 30
    segment_bytes: int = 8 << 20
    fsync_interval_ms: int = 50
    flush_interval_ms: int = 1000
    flush_batch: int = 5000
    max_range_days: int = 366
    flusher: Literal["process", "inline"] = "process"  # under `provocapi serve`
    flusher_nice: int = 10  # the flusher process's niceness: serving preempts it


class BatchConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Files and batches (docs/config.md, `[batch]`)."""

    max_file_bytes: int = 200_000_000  # an upload past it: 413 file_too_large
    max_lines: int = 50_000  # a batch with more lines fails with too_many_tasks
    tenant_quota_bytes: int = 10 * 1024**3  # a tenant's stored files; past it: 413
    file_expiry_s: int = 30 * 86_400  # files are deleted this long after upload
    completion_window_s: float = 86_400.0  # a batch not done by then expires
    line_concurrency: int = 8  # lines of one batch in flight at once, per process
    parallel_batches: int = 4  # batches one runner works on at once
    lease_s: float = 30.0  # a runner silent this long loses its batch to another
    poll_interval_s: float = 0.5  # how often an idle runner looks for work
    runner: Literal["process", "inline"] = "process"  # under `provocapi serve`
    runner_nice: int = 10  # the runner process's niceness: online calls preempt it
    batch_max_share: float = 0.5  # of a capped pool's max_concurrency, for batch lines
    batch_headroom: float = 0.3  # of capacity left free above the recent online load


class RoutingConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Pools, health and queueing (docs/config.md, `[routing]`)."""

    policy: Literal["scan", "two_choices"] = "scan"
    probe_interval_s: float = 2.0
    probe_timeout_s: float = 1.0
    metrics_interval_s: float = 1.0
    eject_after_failures: int = 3
    eject_s: float = 10.0
    max_attempts: int = 3
    queue_size: int = 256
    queue_timeout_s: float = 30.0
    affinity_load_factor: float = 1.5
    adapter_load_factor: float = 3.0
    prefix_affinity: bool = True
    prefix_bytes: int = 2048
    prefix_slots: int = 32  # x 32 conversations remembered per model
    wake_budget_s: float = 480.0
    hard_cap_s: float = 590.0
    keepalive_s: float = 15.0


class AdaptersConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The adapter store (docs/config.md, `[adapters]`)."""

    dir: str | None = None  # where the gateway writes adapters; default DATA_DIR/adapters
    worker_dir: str | None = None  # the same directory as the workers see it; default `dir`
    max_upload_bytes: int = 1 << 30
    delete_grace_s: float = 600.0  # after DELETE: in-flight calls finish, then files go
    max_per_tenant: int = 100
    max_bytes_per_tenant: int = 20 << 30
    hf_endpoint: str = "https://huggingface.co"  # POST /v1/adapters fetches from here
    hf_timeout_s: float = 30.0  # per hub request (metadata and each file's stream)


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    server: ServerConfig = ServerConfig()
    adapters: AdaptersConfig = AdaptersConfig()
    usage: UsageConfig = UsageConfig()
    routing: RoutingConfig = RoutingConfig()
    batch: BatchConfig = BatchConfig()
    models: list[ModelConfig] = []
    tenants: dict[str, TenantConfig] = {}
    tiers: dict[str, TierConfig] = {}
    # Shared by all replicas: rate limits become global (docs/config.md, `redis_url`).
    redis_url: str | None = None


class ConfigError(ValueError):
    """The config file is unreadable or inconsistent; the message says where."""


def default_config_text() -> str:
    return resources.files("provocapi").joinpath("default_config.toml").read_text()


def parse(text: str, source: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        cfg = msgspec.convert(raw, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    check(cfg, source)
    return cfg


# The embedded default's example adapter lives in the data dir (`provocapi serve`
# writes it there); this placeholder in its lora_path names that directory.
DATA_DIR_PLACEHOLDER = "@DATA_DIR@"


def load(path: str | Path | None, data_dir: str | Path | None = None) -> Config:
    """`path` None: the embedded default, its DATA_DIR_PLACEHOLDER made `data_dir`
    (default: PROVOCAPI_DATA_DIR, which `provocapi serve` sets for its workers)."""
    if path is None:
        where = str(data_dir or os.environ.get("PROVOCAPI_DATA_DIR", ".provocapi"))
        text = default_config_text().replace(DATA_DIR_PLACEHOLDER, where)
        return parse(text, "<embedded default>")
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from exc
    return parse(text, str(p))


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what redis-py's from_url reads


def check(cfg: Config, source: str) -> None:
    """Cross-field rules msgspec cannot express."""
    names: dict[str, str] = {}
    lora_ids: set[int] = set()  # unique across the fleet: workers key adapters by it
    for m in cfg.models:
        for name in (m.id, *m.aliases):
            if not name.strip():  # a client could never name it
                raise ConfigError(f"{source}: a model id or alias is empty")
            if ":" in name:
                raise ConfigError(f"{source}: model name '{name}' may not contain ':'")
            if name in names:
                raise ConfigError(f"{source}: model name '{name}' is used twice")
            names[name] = m.id
        if not (0 <= m.sampling.temperature <= 2 and 0 < m.sampling.top_p <= 1):
            raise ConfigError(f"{source}: {m.id}: sampling: temperature 0..2, top_p within (0, 1]")
        if m.default_max_tokens > m.max_output_tokens:
            raise ConfigError(f"{source}: {m.id}: default_max_tokens > max_output_tokens")
        if m.kind == "embedding":
            if m.dimensions is None:
                raise ConfigError(f"{source}: {m.id}: an embedding model needs `dimensions`")
            if m.min_dimensions is not None and not 1 <= m.min_dimensions <= m.dimensions:
                raise ConfigError(f"{source}: {m.id}: min_dimensions out of range")
            for name in ("max_inputs", "max_input_tokens", "max_request_tokens"):
                if getattr(m, name) < 1:
                    raise ConfigError(f"{source}: {m.id}: {name} must be at least 1")
        if m.batch_priority is not None:
            if m.kind == "embedding":
                raise ConfigError(f"{source}: {m.id}: embedding workers take no batch_priority")
            if not 0.0 <= m.batch_priority <= 1.0:
                raise ConfigError(f"{source}: {m.id}: batch_priority must be within 0.0..1.0")
        _check_tokenizer(m, source)
        if not m.workers and not m.simulate:
            raise ConfigError(f"{source}: {m.id}: no workers (and simulate = false)")
        check_workers(m, source)
        if m.lora.max_rank < 1:
            raise ConfigError(f"{source}: {m.id}: lora.max_rank must be at least 1")
        adapter_names: set[str] = set()
        for a in m.adapters:
            # `model:adapter` is how a client names it: one name, once, without ':'
            if not a.name or ":" in a.name or a.name in adapter_names:
                raise ConfigError(
                    f"{source}: {m.id}: adapter name '{a.name}' must be non-empty, unique "
                    "within its model and free of ':'"
                )
            adapter_names.add(a.name)
            if a.lora_int_id in lora_ids or not 0 < a.lora_int_id < STORE_LORA_ID_START:
                raise ConfigError(
                    f"{source}: {m.id}: adapter {a.name}: lora_int_id must be between 1 and "
                    f"{STORE_LORA_ID_START - 1} and unique across all models"
                )
            lora_ids.add(a.lora_int_id)
    check_server(cfg.server, source)
    if cfg.redis_url is not None and not cfg.redis_url.startswith(_REDIS_SCHEMES):
        raise ConfigError(f"{source}: redis_url must start with one of {', '.join(_REDIS_SCHEMES)}")
    ad = cfg.adapters
    if ad.max_upload_bytes < 1 or ad.delete_grace_s < 0 or ad.max_per_tenant < 0:
        raise ConfigError(f"{source}: adapters: max_upload_bytes >= 1, delete_grace_s >= 0")
    check_batch(cfg.batch, source)
    check_usage(cfg.usage, source)
    check_routing(cfg.routing, source)
    for tname, tenant in cfg.tenants.items():
        for model in tenant.models or []:
            if model not in names:
                raise ConfigError(f"{source}: tenant {tname}: unknown model '{model}'")
        if tenant.tier not in cfg.tiers and tenant.tier != "default":
            raise ConfigError(f"{source}: tenant {tname}: unknown tier '{tenant.tier}'")
    _check_tiers(cfg, names, source)


def _check_tokenizer(model: ModelConfig, source: str) -> None:
    spec = spec_for(model.tokenizer, model.family)
    if spec is None:
        return
    if spec in BUILTIN:
        try:
            builtin_path(spec)  # shipped in the package: missing means a broken install
        except MissingVocabulary as e:
            raise ConfigError(f"{source}: {model.id}: {e}") from None
    elif not Path(spec).is_file():
        names = ", ".join(sorted(BUILTIN))
        raise ConfigError(
            f"{source}: {model.id}: tokenizer '{spec}' is neither a file nor a built-in "
            f"({names}, or none)"
        )


def _check_tiers(cfg: Config, names: dict[str, str], source: str) -> None:
    for tier_name, tier in cfg.tiers.items():
        where = f"{source}: tiers.{tier_name}"
        limits = [
            ("key_rpm", tier.key_rpm),
            ("key_tpm", tier.key_tpm),
            ("tenant_rpm", tier.tenant_rpm),
            ("tenant_tpm", tier.tenant_tpm),
            ("batch_tpm", tier.batch_tpm),
        ]
        for model, ml in tier.models.items():
            if model not in names:
                raise ConfigError(f"{where}.models: unknown model '{model}'")
            limits += [(f"models.{model}.rpm", ml.rpm), (f"models.{model}.tpm", ml.tpm)]
        for field_name, value in limits:
            if value is not None and value < 1:
                raise ConfigError(f"{where}.{field_name} must be at least 1 (omit it: no limit)")


def check_server(s: ServerConfig, source: str) -> None:
    if not 1 <= s.port <= 65535:  # Granian raised OverflowError, and 0 is no fixed port
        raise ConfigError(f"{source}: server.port must be within 1..65535")
    for name in ("request_timeout_s", "connect_timeout_s"):
        if not 0 < getattr(s, name) < math.inf:  # also refuses nan
            raise ConfigError(f"{source}: server.{name} must be > 0")
    if not 0 <= s.drain_delay_s < math.inf:  # nan or inf: the first SIGTERM never stops
        raise ConfigError(f"{source}: server.drain_delay_s must be >= 0 and finite")
    if s.stop_timeout_s is not None and not 1 <= s.stop_timeout_s < math.inf:
        raise ConfigError(f"{source}: server.stop_timeout_s must be >= 1 and finite")
    if s.max_body_bytes < 1 or s.retry_after_s < 0:
        raise ConfigError(f"{source}: server: max_body_bytes >= 1, retry_after_s >= 0")
    if not 0.001 <= s.header_read_timeout_s <= 3600:  # Granian takes whole milliseconds
        raise ConfigError(f"{source}: server.header_read_timeout_s must be within 0.001..3600")
    if not s.body_read_timeout_s > 0:
        raise ConfigError(f"{source}: server.body_read_timeout_s must be > 0")
    if not 0.1 <= s.write_timeout_s <= 3600:  # also refuses nan
        raise ConfigError(f"{source}: server.write_timeout_s must be within 0.1..3600")
    if s.backpressure is not None and s.backpressure < 1:
        raise ConfigError(f"{source}: server.backpressure must be at least 1 (omit it: default)")
    if s.backlog < 128:  # Granian raises anything lower to 128
        raise ConfigError(f"{source}: server.backlog must be at least 128")
    try:
        compile_patterns(s.cors_allow_origins or ())
    except OriginPatternError as exc:
        raise ConfigError(f"{source}: server.cors_allow_origins: {exc}") from None
    try:
        header_names(s.cors_allow_headers)
    except HeaderNameError as exc:
        raise ConfigError(f"{source}: server.cors_allow_headers: {exc}") from None


def check_batch(b: BatchConfig, source: str) -> None:
    if not (0.0 < b.batch_max_share <= 1.0 and 0.0 <= b.batch_headroom < 1.0):
        raise ConfigError(f"{source}: batch: batch_max_share within (0, 1], batch_headroom [0, 1)")
    if not 0 <= b.runner_nice <= 19:  # as usage.flusher_nice: os.nice would not refuse it
        raise ConfigError(f"{source}: batch.runner_nice must be between 0 and 19")
    if b.line_concurrency < 1 or b.parallel_batches < 1:
        raise ConfigError(f"{source}: batch: line_concurrency and parallel_batches >= 1")
    # 0 or less: an idle runner polls in a busy loop, a lease lapses as it is taken
    for name in ("poll_interval_s", "lease_s", "completion_window_s"):
        if not 0 < getattr(b, name) < math.inf:
            raise ConfigError(f"{source}: batch.{name} must be > 0")


def check_usage(u: UsageConfig, source: str) -> None:
    if not 1 <= u.fsync_interval_ms <= 100:  # the durability promise: <= 100 ms
        raise ConfigError(f"{source}: usage.fsync_interval_ms must be between 1 and 100")
    if u.flush_interval_ms < 10 or u.flush_batch < 1:
        raise ConfigError(f"{source}: usage.flush_interval_ms >= 10 and flush_batch >= 1")
    if u.segment_bytes < 4096 or u.spool_max_bytes < u.segment_bytes:
        raise ConfigError(f"{source}: usage.segment_bytes >= 4096 and <= spool_max_bytes")
    if u.max_range_days < 1:
        raise ConfigError(f"{source}: usage.max_range_days must be positive")
    if not 0 <= u.flusher_nice <= 19:
        raise ConfigError(f"{source}: usage.flusher_nice must be between 0 and 19")
    if u.store == "clickhouse" and not u.clickhouse_url.startswith(("http://", "https://")):
        raise ConfigError(f"{source}: usage.clickhouse_url must be an http(s) URL")
    db = u.clickhouse_database
    if not (db[:1].isalpha() or db[:1] == "_") or not db.replace("_", "").isalnum():
        raise ConfigError(f"{source}: usage.clickhouse_database: a letter, then letters, digits, _")


def worker_configs(m: ModelConfig) -> list[WorkerConfig]:
    return [WorkerConfig(w) if isinstance(w, str) else w for w in m.workers]


def check_workers(m: ModelConfig, source: str) -> None:
    _check_pool(m.id, worker_configs(m), source)
    if m.split is not None:
        if not 0 <= m.split.percent <= 100:
            raise ConfigError(f"{source}: {m.id}: split.percent must be within 0..100")
        if not m.split.workers:
            raise ConfigError(f"{source}: {m.id}: split.workers is empty")
        split = [WorkerConfig(w) if isinstance(w, str) else w for w in m.split.workers]
        _check_pool(m.id + " split", split, source)
    fb = m.fallback
    if fb is not None:
        base = fb.base_url.rstrip("/")
        if not base.startswith(("http://", "https://")) or not base.endswith("/v1"):
            raise ConfigError(
                f"{source}: {m.id}: fallback.base_url must be http(s)://... ending in /v1"
            )
        if fb.api_key is not None and fb.api_key_env is not None:
            raise ConfigError(f"{source}: {m.id}: fallback: api_key or api_key_env, not both")
    if m.wake is not None and (m.wake.url is None) == (not m.wake.command):
        raise ConfigError(f"{source}: {m.id}: wake needs exactly one of url and command")


def _check_pool(m_id: str, ws: list[WorkerConfig], source: str) -> None:
    if len(ws) > 64:
        raise ConfigError(f"{source}: {m_id}: a pool has at most 64 workers")
    if len({w.url.rstrip("/") for w in ws}) != len(ws):
        raise ConfigError(f"{source}: {m_id}: a worker URL is listed twice")
    for w in ws:
        if not w.url.startswith(("http://", "https://")) or not _has_host(w.url):
            raise ConfigError(
                f"{source}: {m_id}: worker url '{w.url}' is not http(s)://HOST[:PORT]"
            )
        if w.max_concurrency < 0 or w.weight < 1 or not 0 <= w.max_loras <= 16:
            raise ConfigError(
                f"{source}: {m_id}: worker {w.url}: max_concurrency >= 0, weight >= 1 "
                "and 0 <= max_loras <= 16"
            )


def _has_host(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port outside 0..65535 raises
    except ValueError:
        return False
    return bool(parts.hostname)


def check_routing(r: RoutingConfig, source: str) -> None:
    positive = {
        "probe_interval_s": r.probe_interval_s,
        "probe_timeout_s": r.probe_timeout_s,
        "metrics_interval_s": r.metrics_interval_s,
        "eject_s": r.eject_s,
        "queue_timeout_s": r.queue_timeout_s,
        "wake_budget_s": r.wake_budget_s,
        "hard_cap_s": r.hard_cap_s,
        "keepalive_s": r.keepalive_s,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{source}: routing.{name} must be > 0")
    if r.eject_after_failures < 1 or r.max_attempts < 1 or r.queue_size < 0:
        raise ConfigError(
            f"{source}: routing: eject_after_failures and max_attempts >= 1, queue_size >= 0"
        )
    factors_ok = r.affinity_load_factor >= 1.0 and r.adapter_load_factor >= 1.0
    if not factors_ok or r.prefix_bytes < 1 or not 0 <= r.prefix_slots <= 256:
        raise ConfigError(
            f"{source}: routing: affinity_load_factor and adapter_load_factor >= 1, "
            "prefix_bytes >= 1, "
            "0 <= prefix_slots <= 256"
        )


def to_json(cfg: Config) -> bytes:
    return msgspec.json.encode(cfg)


def write_private(path: Path, cfg: Config) -> None:
    """Writes the effective config for the worker processes, readable by its owner
    only: it holds the config's secrets (admin key, provider keys, passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(fd, 0o600)  # the file may have existed with wider permissions
        f.write(to_json(cfg))


def from_json(data: bytes) -> Config:
    return msgspec.json.decode(data, type=Config)
