"""Loopback stand-ins for the example connectors' APIs; each builds on `_base.LoopbackServer`."""
