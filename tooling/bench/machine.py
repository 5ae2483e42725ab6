"""Where and with what the bench ran: CPU, cores, OS, load, package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from tooling.bench.servers import MLSERVER


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mlserver_versions() -> list[str]:
    """MLServer's packages as its own venv holds them (another interpreter: read, not imported)."""
    site_packages = [str(path) for path in MLSERVER.parents[1].glob("lib/python*/site-packages")]
    found = {dist.metadata["Name"]: dist.version for dist in metadata.distributions(path=site_packages)}
    return [f"{name} {found[name]}" for name in ("mlserver", "mlserver-mlflow") if name in found]


def machine_facts(load_average: tuple[float, float, float]) -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    packages = ("mlflow", "fastapi", "uvicorn", "scikit-learn", "numpy", "pydantic")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
        "load average when the bench started": " ".join(f"{value:.2f}" for value in load_average),
        "versions": ", ".join(
            [
                f"Python {platform.python_version()}",
                *(f"{package} {metadata.version(package)}" for package in packages),
                *_mlserver_versions(),
                (wrk_version.splitlines() or ["wrk ?"])[0].split(" [")[0],
            ]
        ),
    }
