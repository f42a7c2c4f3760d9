"""Shared readers of untrusted input, every one with explicit size limits."""

from edgegate.io.documents import Document, iter_input_files, load_documents, load_yaml_text
from edgegate.io.files import human_size, read_bounded, read_text_bounded

__all__ = [
    "Document",
    "human_size",
    "iter_input_files",
    "load_documents",
    "load_yaml_text",
    "read_bounded",
    "read_text_bounded",
]
