"""govpulse: live e-government service health (giám sát dịch vụ công) from event streams."""

__version__ = "0.1.0"
