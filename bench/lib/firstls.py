#!/usr/bin/env python3
"""Time from starting a mount command to the first listing of its mountpoint.

  firstls.py NAME MNT LOG CMD...

Starts CMD (stdout discarded, stderr appended to LOG), then lists MNT
every half millisecond, in this process, until the listing holds NAME.
Prints CMD's pid (it goes on running) and the milliseconds from just
before the start to that listing. Exits non-zero, with LOG's last lines,
if CMD ends first or nothing shows within 30 s.

bench/run used a shell loop (`until ls MNT | grep -qx NAME`) before: each
turn started two programs, and after the page cache was dropped the first
turns loaded ls, grep and their libraries from disk while the mount
started, so the figure held the loop's own start-up (about 50 ms on the
development VM) besides the mount's.
"""
import os
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    name, mnt, log = sys.argv[1:4]
    cmd = sys.argv[4:]
    with open(log, "ab") as errs:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errs)
        while True:
            try:
                if name in os.listdir(mnt):
                    break
            except OSError:
                pass
            if p.poll() is not None:
                fail(log, "the mount command exited with status %d" % p.returncode)
            if time.perf_counter() - t0 > 30:
                p.terminate()
                fail(log, "no %s in %s after 30 s" % (name, mnt))
            time.sleep(0.0005)
        d = time.perf_counter() - t0
    print("%d %.1f" % (p.pid, d * 1e3))


def fail(log, why):
    with open(log, errors="replace") as f:
        tail = f.readlines()[-5:]
    sys.exit("firstls: %s; its log ends:\n%s" % (why, "".join(tail)))


if __name__ == "__main__":
    main()
