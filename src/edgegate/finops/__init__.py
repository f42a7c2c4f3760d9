"""FinOps gate: what Kubernetes, Knative and edge-AI manifests cost, against FinOpsPolicy caps,
budgets and thresholds, and usage-based rightsizing (`edgegate cost`)."""
