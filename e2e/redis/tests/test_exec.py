"""pkg/kube/exec.h against kubesim: the operator's exec client (libwebsockets, no kubectl)
driven through tests/integration/kube_exec, with the real kubectl and redis-cli as oracles.
"""
import hashlib
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redisenv as R  # noqa: E402
from redisenv import kube  # noqa: E402

EXIT_ETOOBIG, EXIT_ETIMEOUT, EXIT_ENOTFOUND, EXIT_EINVALID = 17, 18, 12, 16


class ExecTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("rx")
        try:
            cls.port = R.create_redis(cls.ns, "cache", R.RDB_ARGS)
        except BaseException:
            kube.delete_ns(cls.ns)
            raise
        cls.pod = "cache-0"

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def test_stdout_and_protocol(self):
        r = R.exec_json(self.ns, self.pod, "--", "redis-cli", "-p", self.port, "ping")
        self.assertEqual(r["exit"], 0)
        self.assertEqual(r["stdout"], "PONG\n")
        self.assertEqual(r["protocol"], "v5.channel.k8s.io")

    def test_runs_inside_the_pods_mount_namespace(self):
        # a file written through exec is in the pod's /data (the PVC), seen by kubectl exec
        R.exec_json(self.ns, self.pod, "--", "sh", "-c", "echo inside > /data/exec-probe")
        p = R.kexec(self.ns, self.pod, "cat", "/data/exec-probe")
        self.assertEqual(p.stdout, b"inside\n")
        self.assertFalse(os.path.exists("/data/exec-probe"), "the file leaked to the host's /data")
        R.kexec(self.ns, self.pod, "rm", "-f", "/data/exec-probe")

    def test_stdin_round_trip_of_some_mebibytes(self):
        data = os.urandom(5 * 1024 * 1024 + 123)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
        self.addCleanup(os.unlink, f.name)
        r = R.exec_json("--stdin", f.name, self.ns, self.pod, "--", "sh", "-c",
                        "cat > /data/stdin-probe && sha256sum /data/stdin-probe && "
                        "wc -c < /data/stdin-probe")
        self.assertEqual(r["exit"], 0, r)
        self.assertEqual(r["stdinBytes"], len(data))
        digest, size = r["stdout"].split()[0], int(r["stdout"].split()[-1])
        self.assertEqual(digest, hashlib.sha256(data).hexdigest())
        self.assertEqual(size, len(data))
        # and back out through stdout, streamed through the callback
        back = R.exec_json("--sha256", self.ns, self.pod, "--", "cat", "/data/stdin-probe")
        self.assertEqual(back["stdoutSha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(back["stdoutBytes"], len(data))
        R.kexec(self.ns, self.pod, "rm", "-f", "/data/stdin-probe")

    def test_v4_fallback(self):
        """A server answering v4.channel.k8s.io: no stdin close exists, so a command fed
        through stdin reads a known length (head -c); output and exit codes work the same."""
        data = os.urandom(300000)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
        self.addCleanup(os.unlink, f.name)
        r = R.exec_json("--v4", "--stdin", f.name, self.ns, self.pod, "--", "sh", "-c",
                        "head -c %d | sha256sum; exit 3" % len(data))
        self.assertEqual(r["protocol"], "v4.channel.k8s.io")
        self.assertEqual(r["stdout"].split()[0], hashlib.sha256(data).hexdigest())
        self.assertEqual(r["exit"], 3)

    def test_stdin_cap(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(b"x" * 200000)
        self.addCleanup(os.unlink, f.name)
        p = R.run_exec("--stdin", f.name, "--stdin-max", "100000", self.ns, self.pod, "--",
                       "sh", "-c", "cat > /dev/null")
        self.assertEqual(p.returncode, EXIT_ETOOBIG, p.stderr)
        self.assertIn(b"stdin longer than its cap", p.stderr)

    def test_nonzero_exit_code_and_stderr(self):
        r = R.exec_json(self.ns, self.pod, "--", "sh", "-c", "echo out; echo oops >&2; exit 7")
        self.assertEqual(r["exit"], 7)
        self.assertEqual(r["stdout"], "out\n")
        self.assertEqual(r["stderr"], "oops\n")

    def test_stdout_cap_truncates_and_counts(self):
        r = R.exec_json("--out-max", "1000", self.ns, self.pod, "--", "head", "-c", "50000",
                        "/dev/zero")
        self.assertEqual(r["exit"], 0)
        self.assertTrue(r["stdoutTruncated"])
        self.assertEqual(len(r["stdout"]), 1000)
        self.assertEqual(r["stdoutBytes"], 50000)

    def test_deadline(self):
        t0 = time.monotonic()
        p = R.run_exec("--timeout", "1500", self.ns, self.pod, "--", "sh", "-c",
                       "echo started > /data/deadline-probe; sleep 30")
        elapsed = time.monotonic() - t0
        self.assertEqual(p.returncode, EXIT_ETIMEOUT, p.stderr)
        self.assertIn(b"did not end within 1500 ms", p.stderr)
        self.assertLess(elapsed, 20)
        # the command really ran
        self.assertEqual(R.kexec(self.ns, self.pod, "cat", "/data/deadline-probe").stdout,
                         b"started\n")
        R.kexec(self.ns, self.pod, "rm", "-f", "/data/deadline-probe")

    def test_missing_pod_and_container(self):
        p = R.run_exec(self.ns, "no-such-pod", "--", "true")
        self.assertEqual(p.returncode, EXIT_ENOTFOUND, p.stderr)
        p = R.run_exec("--container", "nope", self.ns, self.pod, "--", "true")
        self.assertEqual(p.returncode, EXIT_EINVALID, p.stderr)

    def test_long_command_line_is_refused_clearly(self):
        # libwebsockets 4.1 cuts request lines past 2048 bytes; the client refuses first
        p = R.run_exec(self.ns, self.pod, "--", "echo", "x" * 3000)
        self.assertEqual(p.returncode, EXIT_ETOOBIG, p.stderr)
        self.assertIn(b"KUBE_EXEC_MAX_URL_BYTES", p.stderr)
        r = R.exec_json(self.ns, self.pod, "--", "echo", "y" * 1500)
        self.assertEqual(r["stdout"], "y" * 1500 + "\n")

    def test_command_not_found(self):
        r = R.exec_json(self.ns, self.pod, "--", "no-such-command-here")
        self.assertNotEqual(r["exit"], 0)


if __name__ == "__main__":
    unittest.main()
