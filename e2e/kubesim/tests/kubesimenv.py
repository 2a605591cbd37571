"""kubesim for kubesim's own suite.

e2e/env.sh starts the real control plane by default; this suite tests the emulator, so
ensure() starts a private kubesim under RUN_DIR/kubesim-suite on a free port with
e2e/kubesim/service.sh (stopped at exit) and points os.environ (KUBECONFIG, KUBESIM_URL,
KUBESIM_RUN_DIR) at it. When env.sh itself runs kubesim (LIFEBOAT_KUBE=kubesim), the
suite uses that one.
"""
import atexit
import os
import socket
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SERVICE = os.path.join(ROOT, "e2e", "kubesim", "service.sh")
_started = []


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _down(run_dir, env):
    subprocess.run([SERVICE, "down", run_dir], env=env, capture_output=True, timeout=120)


def ensure():
    """Returns the run dir of the kubesim this suite talks to (starting one if needed)."""
    if os.environ.get("LIFEBOAT_KUBE") != "controlplane" and os.environ.get("KUBESIM_RUN_DIR"):
        return os.environ["KUBESIM_RUN_DIR"]
    if _started:
        return _started[0]
    base = os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(ROOT, "e2e", ".run")
    run_dir = os.path.join(base, "kubesim-suite")
    env = dict(os.environ, KUBESIM_PORT=str(_free_port()))
    _down(run_dir, env)
    p = subprocess.run([SERVICE, "up", run_dir], env=env, capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("kubesim did not start:\n%s%s" % (p.stderr, p.stdout))
    atexit.register(_down, run_dir, env)
    for line in p.stdout.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            os.environ[k] = v.strip("'")
    os.environ["LIFEBOAT_KUBE"] = "kubesim"
    _started.append(run_dir)
    return run_dir
