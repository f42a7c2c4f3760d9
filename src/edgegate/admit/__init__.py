"""`edgegate admit`: the images a change deploys, resolved in the registry and verified (cosign
signatures and attestations in both storage schemes, per-image policy)."""
