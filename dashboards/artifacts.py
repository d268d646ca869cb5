"""The generated files: dashboards/json/*.json and deploy/grafana/provisioning/**.

``generate`` writes them, ``stale`` lists the ones that differ from what the code makes
(used by ``govpulse dashboards check`` and the tests).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROVISIONING_DIR = Path("deploy/grafana/provisioning")
JSON_DIR = Path("dashboards/json")


def expected(root: Path = REPO) -> dict[Path, str]:
    """Absolute path -> text of every generated file."""
    from dashboards.alerts import render_provisioning
    from dashboards.build import render_dashboards

    out = {root / JSON_DIR / name: text for name, text in render_dashboards().items()}
    out.update({root / PROVISIONING_DIR / rel: text for rel, text in render_provisioning().items()})
    return out


def generate(root: Path = REPO) -> list[Path]:
    """Write every generated file; return those whose content changed."""
    changed = []
    for path, text in expected(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale(root: Path = REPO) -> list[Path]:
    """Generated files that are missing or differ from what the code makes, plus strays in the
    generated directories (a dashboard that no longer exists)."""
    exp = expected(root)
    out = [p for p, text in exp.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    for d, pattern in ((root / JSON_DIR, "*.json"), (root / PROVISIONING_DIR, "**/*.yaml")):
        if d.exists():
            out += [p for p in sorted(d.glob(pattern)) if p not in exp]
    return out
