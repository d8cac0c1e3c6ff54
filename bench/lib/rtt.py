#!/usr/bin/env python3
"""Round-trip costs that bound request-heavy operations on a mount.

  rtt.py pipe N        one byte back and forth between two processes, N times
  rtt.py xattr PATH N  listxattr of PATH N times (on a FUSE mount each one
                       is a request to the daemon: the kernel caches no xattrs)

Prints the mean microseconds per round trip. bench/run runs `pipe` as the
scheduler places the processes and again with both pinned to one CPU
(taskset), which shows what waking a process on another, idle, CPU costs.
"""
import os
import sys
import time


def pipe(n):
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(n):
            os.read(r1, 1)
            os.write(w2, b"x")
        os._exit(0)
    t = time.perf_counter()
    for _ in range(n):
        os.write(w1, b"x")
        os.read(r2, 1)
    d = time.perf_counter() - t
    os.waitpid(pid, 0)
    return d


def xattr(path, n):
    os.listxattr(path, follow_symlinks=False)
    t = time.perf_counter()
    for _ in range(n):
        os.listxattr(path, follow_symlinks=False)
    return time.perf_counter() - t


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "pipe":
        n = int(sys.argv[2])
        d = pipe(n)
    elif len(sys.argv) == 4 and sys.argv[1] == "xattr":
        n = int(sys.argv[3])
        d = xattr(sys.argv[2], n)
    else:
        sys.exit(__doc__)
    print("%.2f" % (d / n * 1e6))


main()
