"""Example connectors' loopback servers live in `examples.servers`; the manifests beside this file are data."""
