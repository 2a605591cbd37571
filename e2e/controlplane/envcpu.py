#!/usr/bin/env python3
# envcpu.py RUN_DIR SECONDS | RUN_DIR -- COMMAND...: CPU (utime+stime from /proc/PID/stat),
# context switches (all threads) and RSS of every process of one e2e environment (the
# control plane supervisor, awssim, the awscli forkserver and their descendants) over
# SECONDS idle, or while COMMAND runs (then also the CPU of COMMAND and its children).
# envcpu.py RUN_DIR --total: one number, the CPU seconds the environment has used since it
# started (every live process of it, plus the children each has reaped), which
# e2e/run-suites.sh reads before and after each suite.
# Issue 9: e2e/controlplane/README.md "CPU per lane".
import os, sys, time
run = sys.argv[1]
cmd = sys.argv[3:] if sys.argv[2] == '--' else None
total_only = sys.argv[2] == '--total'
secs = 0 if cmd or total_only else float(sys.argv[2])
tck = os.sysconf('SC_CLK_TCK')
def rd(p):
    try: return open(p).read().strip()
    except OSError: return None
roots = [rd(f"{run}/controlplane/supervisor.pid"), rd(f"{run}/awssim.pid"), rd(f"{run}/awscli.pid")]
roots = [int(r) for r in roots if r]
def snap():
    kids = {}
    procs = {}
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try:
            st = open(f'/proc/{d}/stat').read()
            status = open(f'/proc/{d}/status').read()
            cmd = open(f'/proc/{d}/cmdline').read().replace('\0', ' ').strip()
        except OSError: continue
        rp = st.rindex(')'); f = st[rp+2:].split()
        ppid = int(f[1]); cpu = int(f[11]) + int(f[12])
        if total_only: cpu += int(f[13]) + int(f[14])   # + the children it has reaped
        ctx = 0
        try:
            for t in os.listdir(f'/proc/{d}/task'):
                ts = open(f'/proc/{d}/task/{t}/status').read()
                ctx += sum(int(l.split()[1]) for l in ts.splitlines() if 'ctxt_switches' in l)
        except OSError: pass
        rss = next((int(l.split()[1]) for l in status.splitlines() if l.startswith('VmRSS')), 0)
        procs[int(d)] = (ppid, cpu, ctx, rss, cmd)
    sel = set(); pending = list(roots)
    while pending:
        p = pending.pop()
        if p in procs and p not in sel:
            sel.add(p); pending += [q for q, v in procs.items() if v[0] == p]
    return {p: procs[p] for p in sel}
def name(cmd):
    w = cmd.split()
    if 'lifeboat-controlplane' in cmd: return 'cp ' + (w[1] if len(w) > 1 else '?')
    if 'awssim.py' in cmd: return 'awssim'
    if 'forkserver' in cmd: return 'awscli forkserver'
    return cmd[:40]
if total_only:
    print("%.2f" % (sum(v[1] for v in snap().values()) / tck))
    sys.exit(0)
import subprocess
a = snap(); t0 = time.time(); c0 = os.times()
rc = subprocess.call(cmd) if cmd else time.sleep(secs)
b = snap(); c1 = os.times(); dt = time.time() - t0
rows = []
for p, v in b.items():
    cpu0, ctx0 = (a[p][1], a[p][2]) if p in a else (0, 0)
    rows.append((name(v[4]), p, (v[1]-cpu0)/tck, v[2]-ctx0, v[3]//1024))
rows.sort(key=lambda r: -r[2])
tot = sum(r[2] for r in rows)
print(f"{'process':28} {'pid':>7} {'CPU s/{:.0f}s'.format(dt):>10} {'% core':>7} {'ctxsw/s':>8} {'RSS MiB':>8}")
for r in rows:
    print(f"{r[0]:28} {r[1]:>7} {r[2]:>10.2f} {100*r[2]/dt:>7.1f} {r[3]/dt:>8.0f} {r[4]:>8}")
if cmd: print(f"{'(the command and its children)':28} {'':>7} {c1.children_user+c1.children_system-c0.children_user-c0.children_system:>10.2f}   rc={rc}")
print(f"{'TOTAL env':28} {'':>7} {tot:>10.2f} {100*tot/dt:>7.1f} {sum(r[3] for r in rows)/dt:>8.0f} {sum(r[4] for r in rows):>8}")
