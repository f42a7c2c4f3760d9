"""Shared readers of untrusted input, every one with explicit size limits."""

from edgegate.io.documents import Document, iter_input_files, load_documents
from edgegate.io.files import read_bounded, read_text_bounded

__all__ = ["Document", "iter_input_files", "load_documents", "read_bounded", "read_text_bounded"]
