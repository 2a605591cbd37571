"""lifeboat-agent archive-restore (runbook 004 Procedure 3) against awssim S3: the
runbook's own `tar -czf` + `openssl enc -aes-256-cbc -pbkdf2` file extracted into a
directory, and archives holding ../escape, an absolute path or an escaping symlink
refused with nothing extracted."""
import io
import os
import subprocess
import tarfile
import tempfile
import unittest

from agentlib import AGENT, aws, new_bucket, put

KEY = "file-backup-encryption-key-77"


def agent_archive(args, key=None):
    import json
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LIFEBOAT_"))}
    if key:
        env["LIFEBOAT_DECRYPTION_KEY"] = key
    p = subprocess.run([AGENT, "archive-restore", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    return p.returncode, json.loads(p.stdout.strip().splitlines()[-1]), p.stderr


def encrypt(path_in, path_out):
    subprocess.run(["openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-in", path_in, "-out",
                    path_out, "-pass", "pass:" + KEY], check=True)


class AgentArchiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(AGENT, os.X_OK):
            raise AssertionError("%s is missing: run make" % AGENT)
        cls.bucket = new_bucket()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lbarch")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))
        self.target = os.path.join(self.dir, "app")
        self.work = os.path.join(self.dir, "work")
        os.makedirs(self.target)
        os.makedirs(self.work)

    def test_runbook_004_p3_tar_gz_enc(self):
        src = os.path.join(self.dir, "src")
        os.makedirs(os.path.join(src, "uploads", "avatars"))
        files = {"uploads/avatars/u1.png": os.urandom(70000),
                 "uploads/readme.txt": b"user uploads\n"}
        for rel, data in files.items():
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
        os.symlink("avatars/u1.png", os.path.join(src, "uploads", "latest.png"))
        tgz = os.path.join(self.dir, "restore.tar.gz")
        subprocess.run(["tar", "-czf", tgz, "-C", src, "uploads"], check=True)
        encrypt(tgz, tgz + ".enc")
        with open(tgz + ".enc", "rb") as f:
            put(self.bucket, "files/production/uploads/latest.tar.gz.enc", f.read())
        rc, res, err = agent_archive(["--bucket", self.bucket, "--key",
                                      "files/production/uploads/latest.tar.gz.enc",
                                      "--target", self.target, "--work-dir", self.work], key=KEY)
        self.assertEqual(rc, 0, err)
        self.assertEqual(res["files"], 2)
        self.assertEqual(res["encryption"], "aes-256-cbc")
        for rel, data in files.items():
            with open(os.path.join(self.target, rel), "rb") as f:
                self.assertEqual(f.read(), data)
        with open(os.path.join(self.target, "uploads", "latest.png"), "rb") as f:
            self.assertEqual(f.read(), files["uploads/avatars/u1.png"])
        self.assertEqual(os.listdir(self.work), [])  # downloads removed
        # A wrong passphrase: nothing extracted into a fresh target.
        fresh = os.path.join(self.dir, "fresh")
        os.makedirs(fresh)
        rc, res, err = agent_archive(["--bucket", self.bucket, "--key",
                                      "files/production/uploads/latest.tar.gz.enc",
                                      "--target", fresh, "--work-dir", self.work],
                                     key="wrong-passphrase")
        self.assertEqual(rc, 1)
        self.assertIn("nothing was extracted", res["error"])
        self.assertEqual(os.listdir(fresh), [])

    def evil(self, name, link=None):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            ok = tarfile.TarInfo("uploads/ok.txt")
            ok.size = 2
            t.addfile(ok, io.BytesIO(b"ok"))
            i = tarfile.TarInfo(name)
            if link:
                i.type = tarfile.SYMTYPE
                i.linkname = link
                t.addfile(i)
            else:
                i.size = 7
                t.addfile(i, io.BytesIO(b"escaped"))
        path = os.path.join(self.dir, "evil.tar.gz")
        with open(path, "wb") as f:
            f.write(buf.getvalue())
        encrypt(path, path + ".enc")
        with open(path + ".enc", "rb") as f:
            return f.read()

    def test_escaping_archives_extract_nothing(self):
        for n, (name, link) in enumerate([("../escape", None), ("/tmp/lb-p3-absolute", None),
                                          ("uploads/link", "../../escape")]):
            key = "files/evil/%d.tar.gz.enc" % n
            put(self.bucket, key, self.evil(name, link))
            rc, res, err = agent_archive(["--bucket", self.bucket, "--key", key, "--target",
                                          self.target, "--work-dir", self.work], key=KEY)
            self.assertEqual(rc, 1, err)
            self.assertIn("nothing was extracted", res["error"])
            self.assertIn(name, res["error"])
            self.assertEqual(os.listdir(self.target), [])
            self.assertFalse(os.path.exists(os.path.join(self.dir, "escape")))
        self.assertFalse(os.path.exists("/tmp/lb-p3-absolute"))


if __name__ == "__main__":
    unittest.main()
