"""fixtures/load_redis.sh loads the session:* dataset into a redis-server given host and
port (a private redis-server started and stopped by this test)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from awssim_helpers import FIXTURES, run  # noqa: E402

REDIS_PORT = 16380


class RedisSessions(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="awssim-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while run(["redis-cli", "-p", str(REDIS_PORT), "PING"], check=False).stdout.strip() \
                != "PONG":
            self.assertLess(time.time(), deadline, "redis-server did not start")
            time.sleep(0.05)

    def tearDown(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
        s = socket.socket()
        self.assertNotEqual(s.connect_ex(("127.0.0.1", REDIS_PORT)), 0)
        s.close()

    def test_load_sessions(self):
        out = run([os.path.join(FIXTURES, "load_redis.sh"), "127.0.0.1", str(REDIS_PORT),
                   "300"])
        self.assertEqual(out.stdout.strip(), "351")  # 300 sessions + 50 carts + 1 counter
        keys = run(["redis-cli", "-p", str(REDIS_PORT), "--scan", "--pattern", "session:*"])
        self.assertEqual(len(keys.stdout.split()), 300)
        value = run(["redis-cli", "-p", str(REDIS_PORT), "GET", "session:000042"]).stdout
        self.assertIn('"user_id":42', value)


if __name__ == "__main__":
    unittest.main()
