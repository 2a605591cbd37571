"""The real control plane for this suite.

The suites use the one e2e/env.sh started (LIFEBOAT_KUBE=controlplane, the only kind
env.sh runs since issue 9), and awssim from the same environment.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "e2e", "kubesim", "tests"))
sys.path.insert(0, os.path.join(ROOT, "e2e", "restore", "tests"))


def ensure():
    """The run dir of the real control plane e2e/env.sh started (KUBECONFIG,
    KUBE_SERVICE_MAP and CONTROLPLANE_* come from RUN_DIR/env.sh); a clear error when the
    environment was not sourced."""
    if os.environ.get("LIFEBOAT_KUBE") != "controlplane" or \
            not os.environ.get("CONTROLPLANE_RUN_DIR"):
        raise AssertionError("no control plane in the environment: run e2e/env.sh up and "
                             "source RUN_DIR/env.sh (LIFEBOAT_KUBE=controlplane)")
    return os.environ["CONTROLPLANE_RUN_DIR"]


def cp_dir():
    return os.path.join(os.environ["CONTROLPLANE_RUN_DIR"], "controlplane")


def user_kubeconfig(name):
    """The kubeconfig of a preset token user (admin, alice, bob, carol)."""
    return os.path.join(cp_dir(), "users", name + ".kubeconfig")


def component_pid(name):
    with open(os.path.join(cp_dir(), name + ".pid")) as f:
        return int(f.read().strip())
