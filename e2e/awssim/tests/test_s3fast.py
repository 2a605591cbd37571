"""awssim's s3fast (CompleteMultipartUpload without moto's extra copies) answers exactly as
moto 5.2.1 does: the same stored bytes, ETag, checksum type/value/part count, and the same
errors, for every checksum flavour a client can ask for. In process (moto's models, no
server); then through the running awssim, a multipart object whose bytes and ETag the aws
CLI reads back."""

import hashlib
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from moto.s3 import models as s3m  # noqa: E402
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML  # noqa: E402

import s3fast  # noqa: E402
from awssim_helpers import aws, suffix  # noqa: E402

MIB = 1024 * 1024
ORIGINAL_COMPLETE = s3m.FakeMultipart.complete
ORIGINAL_VALUE = s3m.FakeKey.value


def upload(parts, algo=None, ctype=None):
    meta = s3m.CaseInsensitiveDict()
    if algo:
        meta["x-amz-checksum-algorithm"] = algo
    if ctype:
        meta["x-amz-checksum-type"] = ctype
    mp = s3m.FakeMultipart("k", meta, "123456789012", "us-east-1")
    for i, p in enumerate(parts, 1):
        mp.set_part(i, p)
    return mp


class SameAnswersAsMoto(unittest.TestCase):
    def both(self, mp, body):
        """moto's answer and s3fast's, the latter with the object's bytes read back from
        the buffer it assembled (on disk exactly when moto's key would be)."""
        want = ORIGINAL_COMPLETE(mp, iter(body))
        assembled, etag, checksum = s3fast.complete(mp, iter(body))
        buf = assembled.buf
        self.assertEqual(buf._rolled, len(want[0]) > buf._max_size)
        buf.seek(0)
        got = (buf.read(), etag, checksum)
        self.assertEqual(assembled.size, len(got[0]))
        return want, got

    def test_every_checksum_flavour(self):
        for parts in ([os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)],
                      [os.urandom(1000)]):  # one small part: stays in memory
            self.flavours(parts)

    def flavours(self, parts):
        n = len(parts)
        for algo, ctype in ((None, None), ("CRC32", None), ("CRC32", "FULL_OBJECT"),
                            ("CRC32C", None), ("SHA1", None), ("SHA256", None),
                            ("CRC64NVME", None)):
            mp = upload(parts, algo, ctype)
            body = [(i, mp.parts[i].etag) for i in range(1, n + 1)]
            want, got = self.both(mp, body)
            self.assertEqual(got, want, f"{algo}/{ctype}")
            self.assertEqual(got[0], b"".join(parts))
            md5s = b"".join(hashlib.md5(p).digest() for p in parts)
            self.assertEqual(got[1], hashlib.md5(md5s).hexdigest() + f"-{n}")

    def test_the_same_errors(self):
        parts = [os.urandom(5 * MIB), os.urandom(10), os.urandom(10)]
        mp = upload(parts)
        cases = {
            "wrong etag": ([(1, '"00"')], InvalidPart),
            "missing part": ([(1, mp.parts[1].etag), (9, '"00"')], InvalidPart),
            "small part not last": ([(i, mp.parts[i].etag) for i in (1, 2, 3)], EntityTooSmall),
            "no parts": ([], MalformedXML),
        }
        for name, (body, exc) in cases.items():
            with self.assertRaises(exc, msg=name):
                ORIGINAL_COMPLETE(mp, iter(body))
            with self.assertRaises(exc, msg=name):
                s3fast.complete(mp, iter(body))

    def test_a_large_value_is_stored_on_disk_the_same(self):
        s3fast.install()
        try:
            for n in (0, 10, 8 * MIB, 8 * MIB + 1, 20 * MIB):
                data = os.urandom(n)
                key = s3m.FakeKey("k", data, "123456789012", "us-east-1")
                self.assertEqual(key.value, data)
                self.assertEqual(key.contentsize, n)
                self.assertEqual(key._value_buffer._rolled, n > key._max_buffer_size)
                key.value = b"short"  # overwritten: truncated, not appended
                self.assertEqual(key.value, b"short")
                key.dispose()
            # a completed upload's buffer is adopted, not copied
            parts = [os.urandom(6 * MIB), os.urandom(2 * MIB)]
            mp = upload(parts)
            assembled, _, _ = s3fast.complete(mp, iter([(1, mp.parts[1].etag),
                                                        (2, mp.parts[2].etag)]))
            key = s3m.FakeKey("k", assembled, "123456789012", "us-east-1")
            self.assertIs(key._value_buffer, assembled.buf)
            self.assertEqual(key.value, b"".join(parts))
            self.assertEqual(key.contentsize, 8 * MIB)
            key.dispose()
        finally:
            s3m.FakeKey.value = ORIGINAL_VALUE
            s3m.FakeMultipart.complete = ORIGINAL_COMPLETE


class ThroughAwssim(unittest.TestCase):
    def test_a_multipart_object_reads_back(self):
        bucket = f"s3fast-{suffix()}"
        aws("s3api", "create-bucket", "--bucket", bucket)
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")
            parts = [os.urandom(8 * MIB), os.urandom(8 * MIB), os.urandom(3 * MIB + 7)]
            with open(src, "wb") as f:
                f.write(b"".join(parts))
            aws("s3", "cp", "--only-show-errors", src, f"s3://{bucket}/obj")
            etag = aws("s3api", "head-object", "--bucket", bucket, "--key", "obj")["ETag"]
            etag = etag.strip('"')
            md5s = b"".join(hashlib.md5(p).digest() for p in parts)
            self.assertEqual(etag, hashlib.md5(md5s).hexdigest() + "-3")
            out = os.path.join(d, "out")
            aws("s3", "cp", "--only-show-errors", f"s3://{bucket}/obj", out)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), b"".join(parts))
        aws("s3", "rb", "--force", f"s3://{bucket}", output_json=False)


if __name__ == "__main__":
    unittest.main()
