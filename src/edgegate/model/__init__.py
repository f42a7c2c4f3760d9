"""Model gates: unsafe model files (scan), quantization facts and drift (quant), fairness (bias)."""
