"""Run a command and report its wall time and peak memory, counting every process it starts.

``/usr/bin/time -v`` reports the largest single process; the ladder trains in child processes, so the
memory that matters is the sum over the process tree at each moment. This samples, every half second,
the resident set size of the command and all its descendants from ``/proc/<pid>/statm`` (Linux only;
cheap to read). Pages shared between processes (the same libraries) count once per process there, so
that sum is an upper bound. Whenever it passes its last high mark by 100 MB, the proportional set size
(PSS: shared pages split between the processes that share them) is read from ``smaps_rollup`` too; that
walks the page tables, so it is read only then (read every 0.2 s, it slowed the measured run by a third).

    python scripts/peak_memory.py -- make run
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    """The process's resident set size in bytes (0 if it has gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """The process's proportional set size in bytes (0 if it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    peak, peak_at, by_process, largest, pss_mark, pss_peak = 0, 0.0, [], 0, 0, 0
    while proc.poll() is None:
        pids = descendants(proc.pid)
        sizes = [rss_bytes(p) for p in pids]
        largest = max([largest, *sizes])
        if sum(sizes) > peak:
            peak, peak_at, by_process = sum(sizes), time.perf_counter() - started, sorted(sizes, reverse=True)
        if sum(sizes) > pss_mark + 100e6:
            pss_mark = sum(sizes)
            pss_peak = max(pss_peak, sum(pss_bytes(p) for p in pids))
        time.sleep(0.5)
    wall = time.perf_counter() - started
    print(f"[peak_memory] exit {proc.returncode}, wall {wall // 60:.0f} min {wall % 60:.0f} s; peak RSS summed over "
          f"the process tree {peak / 1e9:.2f} GB at {peak_at // 60:.0f} min {peak_at % 60:.0f} s "
          f"({' + '.join(f'{b / 1e9:.2f}' for b in by_process if b > 50e6)} GB); largest single process "
          f"{largest / 1e9:.2f} GB; PSS at the RSS high marks {pss_peak / 1e9:.2f} GB", file=sys.stderr)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
