#!/usr/bin/env python3
"""Runs a benchmark command that prints one TSV row and appends a column: the CPU seconds other
processes used while it ran (busy time from /proc/stat minus the command's own), so a row measured
on a busy machine shows it. Linux only.

    other_cpu.py CMD [ARGS...]
"""

import os
import subprocess
import sys


def busy_seconds() -> float:
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    before = busy_seconds()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    other = max(0.0, busy_seconds() - before - usage.ru_utime - usage.ru_stime)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(code)
    for line in out.splitlines():
        print(f"{line}\t{other:.2f}")


if __name__ == "__main__":
    main()
