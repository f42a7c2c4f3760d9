"""SBOMs: container images, model weights (ML-BOM) and Python projects, as CycloneDX 1.6."""
