"""What every model family shares: network blocks, the checkpoint protocol, bundled
models by name, and the Lightning training run."""
