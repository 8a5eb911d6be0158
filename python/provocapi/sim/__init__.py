"""A simulated TensorRT-LLM ``trtllm-serve`` worker (or plain OpenAI provider) for tests and
benchmarks. Process API: :func:`start_sim`; in-process: :class:`SimWorker` with :func:`serve`.

``usage.prompt_tokens`` is what trtllm-serve would report: the chat template rendered by
chat_template.py and counted with the model's tokenizer file (prompt_count.py)."""

from .app import SimWorker
from .cli import main
from .config import SimConfig
from .process import SimHandle, free_port, start_sim

__all__ = ["SimConfig", "SimHandle", "SimWorker", "free_port", "main", "start_sim"]
