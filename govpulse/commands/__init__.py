"""Subcommands of the `govpulse` console command, one module per area; each exposes ``register(app)``."""
