"""The machine a benchmark ran on: CPU model, cores, memory, OS, Python, load average."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def host() -> str:
    return socket.gethostname().split(".")[0] or "host"


def describe() -> dict[str, Any]:
    """What a reader needs to weigh the figures: the processor, its cores, memory, OS, Python."""
    return {
        "host": host(),
        "cpu": _cpu_model(),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def summary(machine: dict[str, Any]) -> str:
    return (
        f"{machine['cpu']} ({machine['architecture']}), {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB RAM, {machine['os']}, Python {machine['python']}"
    )
