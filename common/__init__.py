"""What every part of govpulse shares, at the bottom of the package graph: settings
(``GOVPULSE_*``), the InfluxDB measurement contract, topic and window names, and the
Vietnamese working-day calendar. It imports nothing of the project; everything else may
import it (see the import-linter contract in pyproject.toml)."""
