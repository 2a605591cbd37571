"""The operator as deploy/'s ServiceAccount against the real control plane: its Lease,
runbook 000's Restore 1A (the restore suite's scenario, rows, Secret, restarted process,
final snapshot), and a restore that survives a kube-apiserver restart in its middle.

The operator's kubeconfig carries a token of system:serviceaccount:lifeboat-system:
lifeboat-operator (kubectl create token), so the real RBAC authorizer decides every
request it makes.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cpenv  # noqa: E402

cpenv.ensure()   # before the scenario modules read the environment

import kube  # noqa: E402
import scenario  # noqa: E402
import test_restore_1a as r1a  # noqa: E402  (only the module: its class is not collected here)

DEPLOY = os.path.join(cpenv.ROOT, "deploy")
_SA_KUBECONFIG = []


def sa_kubeconfig():
    """A kubeconfig for lifeboat-system/lifeboat-operator with a fresh bound token,
    written with kubectl config (deploy/'s namespace, ServiceAccount and RBAC applied)."""
    if _SA_KUBECONFIG:
        return _SA_KUBECONFIG[0]
    for f in ("namespace.yaml", "serviceaccount.yaml", "rbac.yaml"):
        kube.kubectl("apply", "-f", os.path.join(DEPLOY, f))
    tok = kube.kubectl("create", "token", "lifeboat-operator", "-n", "lifeboat-system",
                       "--duration=6h").stdout.strip()
    path = os.path.join(cpenv.cp_dir(), "users", "lifeboat-operator.kubeconfig")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ca = os.path.join(cpenv.cp_dir(), "pki", "ca.crt")
    for args in (("set-cluster", "lifeboat", "--server", kube.server_url(),
                  "--certificate-authority", ca, "--embed-certs=true"),
                 ("set-credentials", "lifeboat-operator", "--token", tok),
                 ("set-context", "lifeboat", "--cluster", "lifeboat", "--user", "lifeboat-operator",
                  "--namespace", "lifeboat-system"),
                 ("use-context", "lifeboat")):
        subprocess.run(["kubectl", "config", "--kubeconfig", path] + list(args), check=True,
                       capture_output=True, timeout=30)
    os.chmod(path, 0o600)
    _SA_KUBECONFIG.append(path)
    return path


def setUpModule():
    os.environ["LIFEBOAT_OPERATOR_KUBECONFIG"] = sa_kubeconfig()


class OperatorLease(unittest.TestCase):
    def test_lease_held_by_the_operator_as_its_serviceaccount(self):
        name = "lifeboat-operator-" + scenario.suffix()
        log = tempfile.NamedTemporaryFile(prefix="operator-lease-", suffix=".log", delete=False,
                                          dir=scenario.run_dir())
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")}
        p = subprocess.Popen(
            [scenario.OPERATOR_BIN, "--kubeconfig", sa_kubeconfig(), "--leader-elect",
             "--lease-namespace", "lifeboat-system", "--lease-name", name,
             "--namespaces", "lifeboat-system",
             "--metrics-addr", "127.0.0.1:%d" % scenario.free_port(),
             "--health-addr", "127.0.0.1:%d" % scenario.free_port()],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            def lease():
                r = kube.api("GET", "/apis/coordination.k8s.io/v1/namespaces/lifeboat-system/"
                             "leases/" + name)
                return r.json() if r.status == 200 else None
            first = kube.wait_for(lambda: (lease() or {}).get("spec", {}).get("holderIdentity")
                                  and lease(), timeout=60, message="lease " + name)
            holder = first["spec"]["holderIdentity"]
            self.assertTrue(holder)
            renew = first["spec"].get("renewTime")
            kube.wait_for(lambda: lease()["spec"].get("renewTime") != renew, timeout=60,
                          message="lease renewed")
            self.assertEqual(lease()["spec"]["holderIdentity"], holder)
            self.assertIsNone(p.poll(), "the operator exited")
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            log.close()


class Restore1AAsServiceAccount(r1a.Restore1A):
    """The restore suite's 1A scenario, unchanged, with the operator as its
    ServiceAccount against the real control plane."""


class RestoreSurvivesAPIServerRestart(scenario.ScenarioCase):
    """kube-apiserver is killed (SIGKILL) while the restore runs; the supervisor starts
    it again; the operator's watches and writes resume and the restore completes."""

    @classmethod
    def scenario(cls):
        cls.src = "cp-restart-" + scenario.suffix()
        cls.target = cls.src + "-restored"
        cls.src_port = cls.seed_instance(cls.src)
        cls.create_secrets(cls.src_port)
        cls.create_service("order-service")
        cls.app_before = scenario.app_info(cls.ns, "order-service")
        # T between two writer rows with rows after it, so that T is restorable
        writer = cls.start_writer(cls.src_port, interval=0.3)
        cls.T, _ = scenario.writer_restore_time(writer, after=2, rows_after=3)
        scenario.wait_restorable(cls.T, instance=cls.src)
        writer.stop()

    def test_restore_completes_across_an_apiserver_restart(self):
        item = r1a.pitr_item(self.src, self.target, scenario.rfc3339(self.T))
        self.apply_rr(self.rr_manifest("restart", [item], rollout=["order-service"],
                                       approval=False))
        # wait until the operator is in the middle of the restore, then kill the API server
        kube.wait_for(lambda: (self.rr("restart").get("status") or {}).get("currentStep", "")
                      .endswith(("/restore", "/wait-available", "/verify")),
                      timeout=60, interval=0.1, message="restore under way")
        old = cpenv.component_pid("apiserver")
        os.kill(old, signal.SIGKILL)
        kube.wait_for(lambda: cpenv.component_pid("apiserver") != old, timeout=30,
                      message="a new kube-apiserver")
        kube.wait_for(lambda: kube.api("GET", "/readyz").status == 200, timeout=120,
                      interval=0.5, message="kube-apiserver ready again")
        obj = self.wait_phase("restart", "Succeeded", timeout=180)
        self.assert_timeline(obj)
        info = scenario.app_info(self.ns, "order-service")
        self.assertNotEqual(info["pid"], self.app_before["pid"], "the service was not restarted")
        port = scenario.cli_instances()[self.src]["Endpoint"]["Port"]
        self.assertNotEqual(port, self.src_port)
        self.assertEqual(scenario.url_port(
            scenario.secret_value(self.ns, "shop-secrets", "ORDER_DATABASE_URL")),
            ("127.0.0.1", port))
        log = self.operator.log_tail(n=10 * 1024 * 1024)
        self.assertIn("--- start 1", log)
        self.assertTrue(self.operator.alive(), "the operator died with the API server")
