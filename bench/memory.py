"""The peak memory of a bench process, its own only.

``getrusage(RUSAGE_SELF).ru_maxrss`` is not: Linux carries the parent's peak into a child started
by fork (or vfork) and exec, so every side the bench starts after it held the floor's emails or
the 1M members it picked staff actions from reported the bench's own peak (424 MiB at 1M). The
kernel's high-water mark of the process's own memory map, ``VmHWM``, starts afresh at exec.
"""

from __future__ import annotations

from pathlib import Path


def peak_rss_kb() -> int:
    """This process's peak resident set size since it started its program, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (the bench measures memory on Linux only)")
