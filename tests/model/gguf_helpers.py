"""A GGUF model file with a chat template, written by the gguf library (for template tests)."""

from __future__ import annotations

from pathlib import Path


def write_gguf_with_template(path: Path, template: str) -> Path:
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_chat_template(template)
    w.add_tensor("t", np.zeros(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
