"""edgegate: the supply-chain and policy gate in front of edge AI deployments."""

__version__ = "0.1.0"
