"""`edgegate model scan`: find code-execution risks in model files without loading them."""

from edgegate.model.scan.engine import GATE, RULES, FileRecord, ScanOptions, scan_paths
from edgegate.model.scan.imports import Verdict, classify
from edgegate.model.scan.pickle import PickleAnalysis, PickleImport, analyse_pickle

__all__ = [
    "GATE",
    "RULES",
    "FileRecord",
    "PickleAnalysis",
    "PickleImport",
    "ScanOptions",
    "Verdict",
    "analyse_pickle",
    "classify",
    "scan_paths",
]
