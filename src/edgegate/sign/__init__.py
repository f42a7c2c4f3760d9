"""Signing and verification: Sigstore bundles for files and images, OpenSSF model-signing for
model directories, key pairs (offline) and keyless (OIDC).

Public entry points: `edgegate.sign.signer.sign`, `edgegate.sign.verify.verify_one` /
`verify_gate`, `edgegate.sign.gate.run_from_config`. Heavy engines are imported lazily.
"""
