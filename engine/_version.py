"""The one place the version is written (read statically by setup.cfg)."""
__version__ = "0.1.0"
