"""Runs the benchmark's commands on behalf of ``bench/run.py`` and reports their own rusage.

Why a separate, small process: on Linux a child's peak RSS (``ru_maxrss``) starts from its
parent's resident size at fork time (the copied address space counts until ``exec``). The driver
holds the benchmark world (thousands of cached documents, hundreds of MB), so every command it
forked would report at least that. This launcher is started first, while small, and forks the
commands instead. Protocol: one JSON object per line on stdin (``cmd``, ``cwd``, ``env``, ``out``,
``err``), one JSON line back (``wall_s``, ``user_s``, ``sys_s``, ``maxrss_kb``, ``rc``).
"""

import json
import os
import subprocess
import sys
import time


def main() -> None:
    for line in sys.stdin:
        job = json.loads(line)
        with open(job["out"], "wb") as out, open(job["err"], "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(job["cmd"], cwd=job["cwd"], env=job["env"], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        print(json.dumps({"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                          "maxrss_kb": usage.ru_maxrss, "rc": proc.returncode}), flush=True)


if __name__ == "__main__":
    main()
