"""provocapi: an OpenAI-compatible inference gateway for TensorRT-LLM workers."""

__version__ = "0.1.0"
