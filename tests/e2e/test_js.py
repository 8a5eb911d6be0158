"""The official `openai` npm package against the gateway (tests/js/e2e.test.mjs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Stack

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def test_openai_node_sdk(stack: Stack) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the JS end-to-end tests need node and npm")
    if not (JS_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `npm install` in tests/js")
    env = {
        **os.environ,
        "PROVOCAPI_BASE_URL": stack.base_url,
        "PROVOCAPI_KEY": stack.key,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    started = time.monotonic()
    try:
        res = subprocess.run(
            [node, "--test", "--test-timeout=20000", "e2e.test.mjs"],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"node did not exit within 60 s (a response left open?)\n{exc.stdout}\n{exc.stderr}"
        ) from exc
    elapsed = time.monotonic() - started
    assert res.returncode == 0, f"node --test failed:\n{res.stdout}\n{res.stderr}"
    passed = re.search(r"^# pass (\d+)$", res.stdout, re.M)
    assert passed and int(passed.group(1)) >= 7, f"not every JS test ran:\n{res.stdout}"
    assert elapsed < 30, f"node took {elapsed:.1f} s to exit"
