"""The end-to-end stack: simulated workers, a gateway, keys, and SDK clients.

One stack per session (starting seven Python processes costs a few seconds on two
cores). Every response the clients get back is recorded and checked against OpenAI's
spec after each test (`_spec_check`).
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import openai
import pytest
from harness.gateway import Gateway
from harness.procs import Proc, create_key
from harness.sims import start_sim_proc
from harness.waiting import wait_healthy
from provocapi.lora_files import write_zero_adapter
from provocapi.netutil import free_ports

from .helpers import (
    AsyncRecordingTransport,
    Recorder,
    RecordingTransport,
    check_exchange,
)

STARTUP_TIMEOUT_S = 30.0

# Simulator timing: fast for most models; llama-3.1-70b streams slowly (about 2 s for
# 100 tokens) so that a client can walk away in the middle of its stream.
FAST = ["--ttft-ms", "0", "--token-delay-ms", "1", "--output-tokens", "24", "--seed", "7"]
SLOW = ["--ttft-ms", "0", "--token-delay-ms", "20", "--output-tokens", "100", "--seed", "7"]


@dataclass(frozen=True)
class SimSpec:
    model: str
    args: tuple[str, ...]


SIMS: tuple[SimSpec, ...] = (
    SimSpec("llama-3.1-70b-instruct", ("--family", "llama3", *SLOW)),
    SimSpec("llama-3.1-8b-instruct", ("--family", "llama3", *FAST)),
    SimSpec("qwen-2.5-72b-instruct", ("--family", "qwen2", *FAST)),
    SimSpec("mistral-small-3-24b", ("--family", "mistral", *FAST)),
    SimSpec("bge-m3", ("--embedding", "--dimensions", "1024", "--seed", "7")),
    SimSpec("nomic-embed-v1.5", ("--embedding", "--dimensions", "768", "--seed", "7")),
)

CHAT_FAMILIES = {
    "llama3": "llama-3.1-8b-instruct",
    "qwen2": "qwen-2.5-72b-instruct",
    "mistral": "mistral-small-3-24b",
}
ACME_MODELS = ("llama-3.1-8b-instruct", "bge-m3")
ACME_ALIASES = ("gpt-4o-mini", "text-embedding-3-large")
ALL_MODELS = (*(s.model for s in SIMS), "offline-llama")
DOWN_MODEL = "offline-llama"
TIMEOUT_MODEL = "qwen-2.5-72b-instruct"  # request_timeout_s = TIMEOUT_S
TIMEOUT_S = 2.0
MAX_BODY_BYTES = 64 * 1024
MAX_OUTPUT_TOKENS = 4096  # llama-3.1-8b-instruct's cap
ADAPTER = "sql"
BODY_TIMEOUT_S = 3.0  # short, so a stalled upload's 408 is quick to provoke
ADMIN_KEY = "admin-e2e-7f3c9a1e5b2d4086"  # [server].admin_key of the stack
GHOST_ADAPTER = "ghost"  # its lora_path does not exist on the worker


@dataclass
class Stack:
    base_url: str  # http://127.0.0.1:P/v1
    root_url: str  # http://127.0.0.1:P
    key: str  # tenant "main", absent from the config: every model
    acme_key: str  # tenant "acme": ACME_MODELS only
    data_dir: Path
    config_path: Path
    gateway: Proc
    sims: dict[str, str] = field(default_factory=dict)  # model → worker URL
    sim_procs: dict[str, Proc] = field(default_factory=dict)
    down_worker: str = ""


def _config(sim_urls: dict[str, str], down_url: str, lora_dir: Path) -> str:
    def workers(model: str) -> str:
        return f'workers = ["{sim_urls[model]}"]'

    return textwrap.dedent(
        f"""\
        [server]
        max_body_bytes = {MAX_BODY_BYTES}
        body_read_timeout_s = {BODY_TIMEOUT_S}
        request_timeout_s = 60.0
        connect_timeout_s = 2.0
        admin_key = "{ADMIN_KEY}"

        [adapters]
        max_upload_bytes = {MAX_BODY_BYTES}

        [tenants.acme]
        tier = "default"
        models = ["llama-3.1-8b-instruct", "bge-m3"]

        [[models]]
        id = "llama-3.1-70b-instruct"
        kind = "chat"
        family = "llama3"
        context_length = 131072
        max_output_tokens = 8192
        default_max_tokens = 256
        aliases = ["gpt-4o"]
        {workers("llama-3.1-70b-instruct")}
        capabilities = {{ tools = true, json_mode = true }}

        [[models]]
        id = "llama-3.1-8b-instruct"
        kind = "chat"
        family = "llama3"
        context_length = 131072
        max_output_tokens = {MAX_OUTPUT_TOKENS}
        default_max_tokens = 64
        aliases = ["gpt-4o-mini"]
        {workers("llama-3.1-8b-instruct")}
        capabilities = {{ tools = true, json_mode = true, json_schema = true, logprobs = true }}

        [[models.adapters]]
        name = "{ADAPTER}"
        lora_path = "{lora_dir}"
        lora_int_id = 7

        [[models.adapters]]
        name = "{GHOST_ADAPTER}"
        lora_path = "{lora_dir}-missing"
        lora_int_id = 8

        [[models]]
        id = "qwen-2.5-72b-instruct"
        kind = "chat"
        family = "qwen2"
        context_length = 32768
        max_output_tokens = 8192
        default_max_tokens = 64
        aliases = ["gpt-4-turbo"]
        {workers("qwen-2.5-72b-instruct")}
        capabilities = {{ tools = true, json_mode = true, json_schema = true, logprobs = true }}
        request_timeout_s = {TIMEOUT_S}

        [[models]]
        id = "mistral-small-3-24b"
        kind = "chat"
        family = "mistral"
        context_length = 32768
        max_output_tokens = 8192
        default_max_tokens = 64
        aliases = ["gpt-3.5-turbo"]
        {workers("mistral-small-3-24b")}
        capabilities = {{ tools = true, json_mode = true, json_schema = true, logprobs = true }}

        [[models]]
        id = "bge-m3"
        kind = "embedding"
        context_length = 8192
        dimensions = 1024
        aliases = ["text-embedding-3-large"]
        {workers("bge-m3")}

        [[models]]
        id = "nomic-embed-v1.5"
        kind = "embedding"
        context_length = 8192
        dimensions = 768
        min_dimensions = 64
        aliases = ["text-embedding-3-small"]
        {workers("nomic-embed-v1.5")}

        [[models]]
        id = "{DOWN_MODEL}"
        kind = "chat"
        family = "llama3"
        context_length = 8192
        max_output_tokens = 1024
        default_max_tokens = 64
        workers = ["{down_url}"]
        """
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    logs = root / "logs"  # the simulators'; the gateway logs into root
    logs.mkdir()
    data_dir = root / "data"
    lora_dir = root / "lora-sql"
    write_zero_adapter(lora_dir, {"q_proj": (8, 8)}, rank=2, layers=1)
    ports = free_ports(len(SIMS) + 2)
    gw_port, down_port, sim_ports = ports[0], ports[1], ports[2:]
    procs: list[Proc | Gateway] = []
    try:
        sims: dict[str, str] = {}
        sim_procs: dict[str, Proc] = {}
        for spec, port in zip(SIMS, sim_ports, strict=True):
            # all start at once; each is waited for below
            proc = start_sim_proc(spec.model, port, logs, *spec.args, wait=False)
            procs.append(proc)
            sims[spec.model] = f"http://127.0.0.1:{port}"
            sim_procs[spec.model] = proc

        down_url = f"http://127.0.0.1:{down_port}"
        gateway = Gateway(root, _config(sims, down_url, lora_dir), data_dir=data_dir, port=gw_port)

        # keys first (the CLI works on the data dir alone), while the sims start
        with ThreadPoolExecutor(2) as pool:
            main_key_f = pool.submit(create_key, data_dir, "main")
            acme_key_f = pool.submit(create_key, data_dir, "acme")
            main_key, acme_key = main_key_f.result(), acme_key_f.result()

        for model, url in sims.items():
            wait_healthy(f"{url}/health", sim_procs[model], STARTUP_TIMEOUT_S)

        procs.append(gateway)
        # on failure the error carries the gateway's output (stdout and stderr)
        gateway.start(STARTUP_TIMEOUT_S)
        assert gateway.proc is not None and gateway.config_path is not None
        stack = Stack(
            base_url=f"{gateway.url}/v1",
            root_url=gateway.url,
            key=main_key,
            acme_key=acme_key,
            data_dir=data_dir,
            config_path=gateway.config_path,
            gateway=gateway.proc,
            sims=sims,
            sim_procs=sim_procs,
            down_worker=down_url,
        )
        yield stack
        # after every test that used it, bad input included: still serving
        still_serving(stack)
    finally:
        for proc in reversed(procs):
            proc.stop()
        print(f"\ne2e logs: {root}")  # pytest keeps the last three base temp dirs


def still_serving(stack: Stack) -> None:
    """The gateway and every simulator are alive, and chat (plain and streamed) and
    embeddings still answer."""
    assert stack.gateway.alive(), f"the gateway died:\n{stack.gateway.output()}"
    for model, proc in stack.sim_procs.items():
        assert proc.alive(), f"simulator {model} died:\n{proc.output()}"
    with openai.OpenAI(base_url=stack.base_url, api_key=stack.key, max_retries=0) as client:
        with httpx2.Client(base_url=stack.root_url, timeout=30.0, trust_env=False) as raw:
            assert raw.get("/health").status_code == 200
        resp = client.chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=[{"role": "user", "content": "still there?"}],
            max_tokens=4,
        )
        assert resp.choices[0].message.content
        chunks = list(
            client.chat.completions.create(
                model="mistral-small-3-24b",
                messages=[{"role": "user", "content": "still there?"}],
                max_tokens=4,
                stream=True,
            )
        )
        assert chunks[-1].choices[0].finish_reason in {"stop", "length"}
        assert len(client.embeddings.create(model="bge-m3", input="x").data[0].embedding) == 1024


# --------------------------------------------------------------------------- clients


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(autouse=True)
def _spec_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, every JSON body and stream event it received must match the spec."""
    if "recorder" not in request.fixturenames:
        yield
        return
    rec: Recorder = request.getfixturevalue("recorder")
    rec.drain()
    yield
    for ex in rec.drain():
        check_exchange(ex)


def make_client(
    stack: Stack, recorder: Recorder, key: str | None = None, **kw: object
) -> openai.OpenAI:
    http = openai.DefaultHttpx2Client(transport=RecordingTransport(recorder), trust_env=False)
    return openai.OpenAI(
        base_url=stack.base_url,
        api_key=key or stack.key,
        http_client=http,
        **kw,  # type: ignore[arg-type]
    )


def make_async_client(
    stack: Stack, recorder: Recorder, key: str | None = None, **kw: object
) -> openai.AsyncOpenAI:
    http = openai.DefaultAsyncHttpx2Client(
        transport=AsyncRecordingTransport(recorder), trust_env=False
    )
    return openai.AsyncOpenAI(
        base_url=stack.base_url,
        api_key=key or stack.key,
        http_client=http,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def client(stack: Stack, recorder: Recorder) -> Iterator[openai.OpenAI]:
    """The main tenant's sync client; no retries, so errors surface as they are."""
    with make_client(stack, recorder, max_retries=0) as c:
        yield c


@pytest.fixture(scope="session")
def acme(stack: Stack, recorder: Recorder) -> Iterator[openai.OpenAI]:
    with make_client(stack, recorder, key=stack.acme_key, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(stack: Stack, recorder: Recorder) -> AsyncIterator[openai.AsyncOpenAI]:
    async with make_async_client(stack, recorder, max_retries=0) as c:
        yield c


@pytest.fixture(scope="session")
def raw(stack: Stack, recorder: Recorder) -> Iterator[httpx2.Client]:
    """Plain HTTP to the gateway root (recorded and spec-checked too)."""
    with httpx2.Client(
        base_url=stack.root_url,
        transport=RecordingTransport(recorder),
        timeout=30.0,
        trust_env=False,
    ) as c:
        yield c


@pytest.fixture(scope="session")
def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.key}"}
