"""service.sh up|status|down on a private awssim (own port and RUN_DIR, so the shared one
is untouched): exports, idempotence, statuses moving under AWSSIM_DELAY_SCALE, seed.sh,
the sweep after a crash (kill -9), and that down leaves no process and frees the ports."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awssim_helpers import AWSSIM_DIR, FIXTURES, psql



def free_port():
    """A port nobody listens on now (the kernel's pick), so the test's private awssim
    never meets another lane's, or a leftover of a killed run."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


PORT = free_port()
SERVICE = os.path.join(AWSSIM_DIR, "service.sh")
WAIT_S = 60


def port_free(port):
    """Nobody listens: a connect is refused and a server could bind it again (sockets
    in TIME_WAIT from closed connections do not count, as for any restarted server)."""
    c = socket.socket()
    try:
        c.settimeout(2)
        if c.connect_ex(("127.0.0.1", port)) == 0:
            return False
    finally:
        c.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return True
    except OSError:
        return False
    finally:
        s.close()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class ServiceLifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_dir = tempfile.mkdtemp(prefix="awssim-svc-")
        cls.env = dict(os.environ, AWSSIM_PORT=str(PORT), AWSSIM_DELAY_SCALE="20",
                       AWSSIM_PG_PORT_MIN="26400", AWSSIM_PG_PORT_MAX="26499")
        if not port_free(PORT):
            raise AssertionError(f"port {PORT} is busy before the test")

    @classmethod
    def tearDownClass(cls):
        subprocess.run([SERVICE, "down", cls.run_dir], env=cls.env, capture_output=True)
        shutil.rmtree(cls.run_dir, ignore_errors=True)

    def service(self, cmd, check=True):
        proc = subprocess.run([SERVICE, cmd, self.run_dir], env=self.env, capture_output=True,
                              text=True, timeout=90)
        if check and proc.returncode != 0:
            self.fail(f"service.sh {cmd} exited {proc.returncode}: {proc.stderr}")
        return proc

    def aws_env(self, exports):
        env = dict(os.environ)
        for line in exports.splitlines():
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'")
        return env

    def aws(self, env, *args, check=True):
        cmd = ["aws"] + (["--endpoint-url", env["AWS_ENDPOINT_URL"]] if args[0] == "rds"
                         else []) + list(args)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            self.fail(f"{' '.join(args)}: {proc.stderr}")
        return proc.stdout.strip()

    def statuses(self, env, until, *describe):
        seen = []
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            st = self.aws(env, "rds", *describe, "--output", "text")
            if not seen or seen[-1] != st:
                seen.append(st)
            if st == until:
                return seen
        self.fail(f"never reached {until}: {seen}")

    def pid(self):
        with open(os.path.join(self.run_dir, "awssim.pid")) as f:
            return int(f.read())

    def postmasters(self):
        pids = []
        for pidfile in glob.glob(os.path.join(self.run_dir, "awssim/pg/*/data/postmaster.pid")):
            with open(pidfile) as f:
                pids.append(int(f.readline()))
        return pids

    def test_lifecycle(self):
        # up prints only export lines, and up again is a no-op with the same answer.
        up = self.service("up")
        lines = up.stdout.splitlines()
        self.assertTrue(all(line.startswith("export ") for line in lines), up.stdout)
        self.assertIn(f"export AWS_ENDPOINT_URL='http://127.0.0.1:{PORT}'", lines)
        self.assertIn("export AWS_REGION='us-east-1'", lines)
        self.assertIn("export AWS_PAGER=''", lines)
        self.assertTrue(any(line.startswith("export AWS_CONFIG_FILE=") for line in lines))
        pid = self.pid()
        self.assertEqual(self.service("up").stdout, up.stdout)
        self.assertEqual(self.pid(), pid)
        self.assertEqual(self.service("status").returncode, 0)
        env = self.aws_env(up.stdout)

        # Statuses move in background threads; the delay scale (20: backing-up holds 6 s)
        # makes each visible to an aws CLI poll, which takes seconds on a loaded machine.
        self.aws(env, "rds", "create-db-instance", "--db-instance-identifier", "svc-db",
                 "--engine", "postgres", "--db-instance-class", "db.t3.micro",
                 "--master-username", "svc_admin", "--master-user-password", "svc-admin-pw",
                 "--db-name", "svc")
        desc = ["describe-db-instances", "--db-instance-identifier"]
        q = ["--query", "DBInstances[0].DBInstanceStatus"]
        self.assertEqual(self.statuses(env, "available", *desc, "svc-db", *q),
                         ["creating", "backing-up", "available"])
        self.aws(env, "rds", "create-db-snapshot", "--db-instance-identifier", "svc-db",
                 "--db-snapshot-identifier", "svc-snap")
        self.assertEqual(self.statuses(env, "available", "describe-db-snapshots",
                                       "--db-snapshot-identifier", "svc-snap", "--query",
                                       "DBSnapshots[0].Status"), ["creating", "available"])
        self.assertEqual(self.statuses(env, "available", *desc, "svc-db", *q), ["available"])
        self.aws(env, "rds", "modify-db-instance", "--db-instance-identifier", "svc-db",
                 "--new-db-instance-identifier", "svc-db2", "--apply-immediately")
        self.assertEqual(self.statuses(env, "available", *desc, "svc-db2", *q),
                         ["renaming", "available"])

        # seed.sh seeds shop-orders-prod, the media buckets and the secret.
        seed = subprocess.run([os.path.join(FIXTURES, "seed.sh")], capture_output=True,
                              text=True, env=dict(env, SEED_ORDERS="3000"), timeout=180)
        self.assertEqual(seed.returncode, 0, seed.stderr)
        seeded = self.aws_env(seed.stdout)
        self.assertEqual(psql("127.0.0.1", seeded["SHOP_DB_PORT"], "shop_admin",
                              seeded["SHOP_DB_PASSWORD"], "shop_orders",
                              "SELECT COUNT(*) FROM orders"), "3000")
        media = self.aws(env, "s3", "ls", "s3://shop-media", "--recursive").splitlines()
        replica = self.aws(env, "s3", "ls", "s3://shop-media-replica",
                           "--recursive").splitlines()
        self.assertEqual(len(media), 60)
        self.assertEqual(len(replica), 60)
        self.assertEqual(self.aws(env, "secretsmanager", "get-secret-value", "--secret-id",
                                  "shop/production/jwt-secret", "--version-stage",
                                  "AWSPREVIOUS", "--query", "SecretString", "--output",
                                  "text"), "jwt-good-value-1")

        # A crash leaves PostgreSQL running; the next start sweeps it.
        old = self.postmasters()
        self.assertEqual(len(old), 2)
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        self.assertTrue(all(alive(p) for p in old))
        self.assertNotEqual(self.service("status", check=False).returncode, 0)
        up2 = self.service("up")
        self.assertEqual(up2.stdout, up.stdout)
        self.assertFalse([p for p in old if alive(p)], "leftover postmasters not swept")
        self.assertEqual(self.postmasters(), [])
        proc = subprocess.run(["aws", "--endpoint-url", env["AWS_ENDPOINT_URL"], "rds",
                               "describe-db-instances", "--query", "DBInstances"],
                              env=env, capture_output=True, text=True)
        self.assertEqual(proc.stdout.strip(), "[]")

        # down (SIGTERM): the launcher stops its own clusters; nothing is left.
        self.aws(env, "rds", "create-db-instance", "--db-instance-identifier", "svc-db3",
                 "--engine", "postgres", "--db-instance-class", "db.t3.micro",
                 "--master-username", "svc_admin", "--master-user-password", "svc-admin-pw")
        self.statuses(env, "available", *desc, "svc-db3", *q)
        pg = self.postmasters()
        pg_port = int(self.aws(env, "rds", *desc, "svc-db3", "--query",
                               "DBInstances[0].Endpoint.Port", "--output", "text"))
        self.assertEqual(len(pg), 1)
        pid2 = self.pid()
        down = self.service("down")
        self.assertNotIn("leftover", down.stderr)
        self.assertFalse(alive(pid2))
        self.assertFalse(alive(pg[0]))
        leftovers = []
        for proc_dir in glob.glob("/proc/[0-9]*"):
            try:
                with open(os.path.join(proc_dir, "cmdline"), "rb") as f:
                    if self.run_dir.encode() in f.read():
                        leftovers.append(proc_dir)
            except OSError:
                pass
        self.assertEqual(leftovers, [])
        self.assertTrue(port_free(PORT))
        self.assertTrue(port_free(pg_port))
        self.assertFalse(os.path.exists(os.path.join(self.run_dir, "awssim")))
        self.assertEqual(self.service("status", check=False).returncode, 3)
        self.assertEqual(self.service("down").returncode, 0)


if __name__ == "__main__":
    unittest.main()
