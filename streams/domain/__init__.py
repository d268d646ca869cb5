"""Pure domain logic shared by producers and the stream worker (no I/O)."""
