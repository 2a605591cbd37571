"""The identity the e2e suites run bin/lifeboat-operator with.

On the real control plane (LIFEBOAT_KUBE=controlplane, the default of e2e/env.sh) the
operator runs as deploy/'s ServiceAccount lifeboat-system/lifeboat-operator with deploy/'s
RBAC, exactly as `kubectl apply -k deploy/` installs it: kubeconfig() applies deploy/'s
namespace, ServiceAccount and RBAC, asks the TokenRequest API for a bound token
(`kubectl create token`) and writes a kubeconfig carrying it, so the real RBAC authorizer
decides every request the operator makes and the suites prove that RBAC is enough.
grant_lease(ns) gives that ServiceAccount deploy/'s leader-election Role in another
namespace (a test running the operator "installed" in its own namespace).

Anywhere else (LIFEBOAT_KUBE is not controlplane) kubeconfig() and grant_lease() raise:
an operator suite run as admin would pass without proving the RBAC, a skip in disguise.
$LIFEBOAT_OPERATOR_KUBECONFIG, when set, wins (a caller that brings its own identity).
"""
import copy
import os
import subprocess
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
SA_NAMESPACE = "lifeboat-system"
SA_NAME = "lifeboat-operator"
SA_USER = "system:serviceaccount:%s:%s" % (SA_NAMESPACE, SA_NAME)
TOKEN_DURATION = "12h"
TIMEOUT_S = 60

_cache = {}


def require_controlplane():
    """Raises unless e2e/env.sh's real control plane is the Kubernetes in use."""
    if os.environ.get("LIFEBOAT_KUBE") != "controlplane":
        raise AssertionError("the operator suites need the real control plane "
                             "(LIFEBOAT_KUBE=controlplane: source RUN_DIR/env.sh of e2e/env.sh up); "
                             "LIFEBOAT_KUBE=%r" % os.environ.get("LIFEBOAT_KUBE"))


def _kubectl(*args, input_text=None):
    cmd = ["kubectl", "--kubeconfig", os.environ["KUBECONFIG"]] + list(args)
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(cmd[3:]), p.returncode,
                                                  p.stderr.strip()[:2000]))
    return p.stdout


def _rbac_docs():
    with open(os.path.join(DEPLOY, "rbac.yaml")) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def install():
    """Applies deploy/'s namespace, ServiceAccount and RBAC (idempotent)."""
    if _cache.get("installed"):
        return
    for f in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        _kubectl("apply", "-f", os.path.join(DEPLOY, f))
    _cache["installed"] = True


def _server_and_ca():
    with open(os.environ["KUBECONFIG"]) as f:
        cfg = yaml.safe_load(f)
    cluster = cfg["clusters"][0]["cluster"]
    return cluster["server"], cluster


def kubeconfig():
    """The kubeconfig path the operator of a suite uses (see the module's docstring)."""
    if os.environ.get("LIFEBOAT_OPERATOR_KUBECONFIG"):
        return os.environ["LIFEBOAT_OPERATOR_KUBECONFIG"]
    require_controlplane()
    if "path" in _cache:
        return _cache["path"]
    install()
    token = _kubectl("create", "token", SA_NAME, "-n", SA_NAMESPACE,
                     "--duration=" + TOKEN_DURATION).strip()
    server, cluster = _server_and_ca()
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "lifeboat", "cluster": cluster}],
        "users": [{"name": SA_NAME, "user": {"token": token}}],
        "contexts": [{"name": "lifeboat", "context": {"cluster": "lifeboat", "user": SA_NAME,
                                                      "namespace": SA_NAMESPACE}}],
        "current-context": "lifeboat",
    }
    run_dir = os.environ.get("LIFEBOAT_RUN_DIR") or os.path.join(ROOT, "e2e", ".run")
    d = os.path.join(run_dir, "operator-sa")
    os.makedirs(d, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="kubeconfig-%d-" % os.getpid(), dir=d)
    with os.fdopen(fd, "w") as f:       # mkstemp: mode 0600, the token stays private
        yaml.safe_dump(cfg, f)
    _cache["path"] = path
    return path


def grant_lease(ns):
    """Gives the operator's ServiceAccount deploy/'s leader-election Role (and binding)
    in namespace ns as well (nothing to do for a caller's own LIFEBOAT_OPERATOR_KUBECONFIG)."""
    if os.environ.get("LIFEBOAT_OPERATOR_KUBECONFIG"):
        return
    require_controlplane()
    install()
    docs = []
    for d in _rbac_docs():
        if d.get("kind") in ("Role", "RoleBinding") and \
                d["metadata"].get("namespace") == SA_NAMESPACE:
            d = copy.deepcopy(d)
            d["metadata"]["namespace"] = ns
            docs.append(d)
    if not docs:
        raise AssertionError("deploy/rbac.yaml has no Role/RoleBinding in %s" % SA_NAMESPACE)
    _kubectl("apply", "-f", "-", input_text=yaml.safe_dump_all(docs))


def can_i(verb, resource, namespace=None, subresource=None):
    """`kubectl auth can-i VERB RESOURCE --as=<the operator's ServiceAccount>`: True/False."""
    args = ["auth", "can-i", verb, resource, "--as=" + SA_USER]
    if subresource:
        args.append("--subresource=" + subresource)
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    cmd = ["kubectl", "--kubeconfig", os.environ["KUBECONFIG"]] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    out = p.stdout.strip()
    if out not in ("yes", "no"):
        raise AssertionError("%s: %r %s" % (" ".join(args), out, p.stderr.strip()[:500]))
    return out == "yes"


if __name__ == "__main__":
    # `python3 e2e/lib/operator_sa.py`: prints the operator's kubeconfig path (demo.sh)
    print(kubeconfig())
