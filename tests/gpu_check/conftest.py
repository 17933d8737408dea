"""The GPU check's scripts (benchmarks/gpu) live outside the package: make them importable."""

from __future__ import annotations

import sys
from pathlib import Path

GPU_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu"
sys.path.insert(0, str(GPU_DIR))
sys.path.insert(1, str(GPU_DIR.parent))  # their common.py (save_results)
