"""The real control plane for this suite.

When e2e/env.sh started it (LIFEBOAT_KUBE=controlplane), the suite uses that one.
Otherwise (env.sh brought kubesim up) ensure() starts a private control plane under
RUN_DIR/cp-suite on free ports with e2e/controlplane/service.sh and stops it at exit,
so the suite always runs against the real kube-apiserver. awssim comes from env.sh.
"""
import atexit
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SERVICE = os.path.join(ROOT, "e2e", "controlplane", "service.sh")
sys.path.insert(0, os.path.join(ROOT, "e2e", "kubesim", "tests"))
sys.path.insert(0, os.path.join(ROOT, "e2e", "restore", "tests"))

_started = []
PORT_VARS = ("LIFEBOAT_CP_APISERVER_PORT", "LIFEBOAT_CP_ETCD_PORT", "LIFEBOAT_CP_ETCD_PEER_PORT",
             "LIFEBOAT_CP_KUBELET_PORT", "LIFEBOAT_CP_CONTROLLER_MANAGER_PORT",
             "LIFEBOAT_CP_SCHEDULER_PORT")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _down(run_dir, env):
    subprocess.run([SERVICE, "down", run_dir], env=env, capture_output=True, timeout=120)


def ensure():
    """Points os.environ (KUBECONFIG, KUBE_SERVICE_MAP, CONTROLPLANE_*) at a running real
    control plane; returns its run dir."""
    if os.environ.get("LIFEBOAT_KUBE") == "controlplane" and os.environ.get("CONTROLPLANE_RUN_DIR"):
        return os.environ["CONTROLPLANE_RUN_DIR"]
    if _started:
        return _started[0]
    base = os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(ROOT, "e2e", ".run")
    run_dir = os.path.join(base, "cp-suite")
    env = dict(os.environ)
    for v in PORT_VARS:
        env[v] = str(_free_port())
    _down(run_dir, env)
    p = subprocess.run([SERVICE, "up", run_dir], env=env, capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("the control plane did not start:\n%s%s" % (p.stderr, p.stdout))
    atexit.register(_down, run_dir, env)
    for line in p.stdout.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            os.environ[k] = v.strip("'")
    for v in PORT_VARS:
        os.environ[v] = env[v]
    _started.append(run_dir)
    return run_dir


def cp_dir():
    return os.path.join(os.environ["CONTROLPLANE_RUN_DIR"], "controlplane")


def user_kubeconfig(name):
    """The kubeconfig of a preset token user (admin, alice, bob, carol)."""
    return os.path.join(cp_dir(), "users", name + ".kubeconfig")


def component_pid(name):
    with open(os.path.join(cp_dir(), name + ".pid")) as f:
        return int(f.read().strip())
