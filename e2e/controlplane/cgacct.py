#!/usr/bin/env python3
"""cgacct.py NAME OUT -- COMMAND...: CPU seconds per command of everything COMMAND starts.

Runs COMMAND in the cgroup-v1 cpuacct group NAME with process accounting (acct(2)) on,
samples the group's member pids (and their command lines) every 20 ms, and when COMMAND
ends writes to OUT (and prints) the group's user/system CPU and, per command, the CPU
(user+sys) and count of the processes that were members: short-lived ones (psql,
kubectl, aws) included, which /proc sampling misses. Python processes are told apart by
their script. Needs root. Issue 9: e2e/controlplane/README.md "CPU per test".

    e2e/controlplane/cgacct.py lead /tmp/acct.txt -- sh -c 'e2e/env.sh up && ... && e2e/env.sh down'
"""
import collections
import ctypes
import os
import struct
import subprocess
import sys
import threading
import time

if len(sys.argv) < 5 or sys.argv[3] != "--":
    sys.exit(__doc__)
name, out, cmd = sys.argv[1], sys.argv[2], sys.argv[4:]
cg = "/sys/fs/cgroup/cpuacct/" + name
os.makedirs(cg, exist_ok=True)
acctfile = "/tmp/cgacct-%s.acct" % name
open(acctfile, "wb").close()
libc = ctypes.CDLL(None, use_errno=True)
if libc.acct(acctfile.encode()) != 0:
    sys.exit("cgacct: acct: " + os.strerror(ctypes.get_errno()))


def usage(kind):
    with open("%s/cpuacct.usage_%s" % (cg, kind)) as f:
        return int(f.read())


u0, s0 = usage("user"), usage("sys")
seen, cmdline, stop = set(), {}, threading.Event()


def sampler():
    while not stop.is_set():
        try:
            with open(cg + "/cgroup.procs") as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            pids = []
        for pid in pids:
            if pid not in seen:
                seen.add(pid)
                try:
                    with open("/proc/%d/cmdline" % pid) as f:
                        cmdline[pid] = f.read().split("\0")
                except OSError:
                    pass
        stop.wait(0.02)


threading.Thread(target=sampler, daemon=True).start()
t0 = time.time()


def join_group():
    with open(cg + "/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))


rc = subprocess.call(cmd, preexec_fn=join_group)
wall = time.time() - t0
time.sleep(0.5)
stop.set()
libc.acct(None)
u1, s1 = usage("user"), usage("sys")


def comp_t(c):  # 13-bit mantissa, 3-bit base-8 exponent, in AHZ (100) ticks
    return (c & 0x1FFF) << (3 * ((c >> 13) & 7))


cpu, count = collections.Counter(), collections.Counter()
with open(acctfile, "rb") as f:
    data = f.read()
for off in range(0, len(data) - 63, 64):  # struct acct_v3
    rec = data[off:off + 64]
    pid = struct.unpack_from("<I", rec, 16)[0]
    if pid not in seen:
        continue
    utime, stime = struct.unpack_from("<HH", rec, 32)
    comm = rec[48:64].split(b"\0")[0].decode(errors="replace")
    if comm.startswith("python"):
        argv = [a for a in cmdline.get(pid, []) if a and not a.startswith("-")]
        comm = "python " + " ".join(os.path.basename(a) for a in argv[1:2])
    cpu[comm] += (comp_t(utime) + comp_t(stime)) / 100.0
    count[comm] += 1
os.unlink(acctfile)
lines = ["rc=%d wall=%.0fs group user=%.1fs sys=%.1fs" % (rc, wall, (u1 - u0) / 1e9, (s1 - s0) / 1e9)]
lines += ["%8.1f s %6dx %s" % (v, count[k], k) for k, v in cpu.most_common(30)]
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(rc)
