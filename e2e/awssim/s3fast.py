"""s3fast: moto's CompleteMultipartUpload without its extra copies of the object.

moto 5.2.1 assembles a multipart object by growing one bytearray with every part, growing
a second one for the FULL_OBJECT checksum, copying both into bytes, then writing the
result into a SpooledTemporaryFile's BytesIO that it rolls over to disk: seven passes
over the object in fresh memory, 4.45 s for a 152 MiB object on this machine (most of a
small backup's wall time, the same for every client; e2e/agent/bench.sh). Here each part
is read once, checksummed and appended to the new object's file: 8 MiB of memory at a
time, whatever the object's size.

The answers are moto's: the same validation errors in the same order, ETag
`md5(part md5s)-N`, checksum type/value/part count, stored bytes and in-memory/on-disk
state (tests/test_s3fast.py compares both for every checksum flavour). install() patches
moto.s3.models once; awssim.py calls it at start.
"""
import base64
import binascii
import codecs
import hashlib
import tempfile

from moto.core.compat import HAS_CRT
from moto.s3 import models as s3m
from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
from moto.settings import S3_UPLOAD_PART_MIN_SIZE, get_s3_default_key_buffer_size
from moto.utilities.utils import md5_hash

try:
    import crc32c  # noqa: F401  (moto uses it for CRC32C when it is installed)
    HAS_CRC32C = True
except ImportError:
    HAS_CRC32C = False


class Assembled:
    """What complete() returns in place of the object's bytes: the buffer holding them.
    FakeKey's value setter (below) adopts it; nothing else receives it."""

    def __init__(self, buf, size):
        self.buf = buf
        self.size = size


class FullChecksum:
    """moto's compute_checksum(whole object, algorithm), fed part by part. Algorithms
    whose moto implementation is not a plain running hash here (awscrt's CRC64NVME, the
    crc32c package) keep the parts and call moto's function on their concatenation."""

    def __init__(self, algorithm):
        self.algorithm = algorithm
        self.crc = None
        self.hash = None
        self.parts = None
        if algorithm == "SHA1":
            self.hash = hashlib.sha1(usedforsecurity=False)
        elif algorithm in ("CRC32", "CRC32C", "CRC64NVME"):
            exact = (algorithm == "CRC32C" and HAS_CRC32C) or (algorithm == "CRC64NVME"
                                                               and HAS_CRT)
            if exact:
                self.parts = []
            else:
                self.crc = 0  # moto's fallback (and CRC32 itself): binascii.crc32
        else:
            self.hash = hashlib.sha256(usedforsecurity=False)

    def update(self, data):
        if self.parts is not None:
            self.parts.append(data)
        elif self.hash is not None:
            self.hash.update(data)
        else:
            self.crc = binascii.crc32(data, self.crc)

    def value(self):
        if self.parts is not None:
            return s3m.compute_checksum(b"".join(self.parts), self.algorithm).decode()
        raw = self.hash.digest() if self.hash is not None else self.crc.to_bytes(4, "big")
        return base64.b64encode(raw).decode()


def complete(self, body):
    """FakeMultipart.complete: (Assembled object, ETag, checksum details)."""
    builder = s3m.MultipartChecksumBuilder(self.metadata.get("x-amz-checksum-algorithm"),
                                           self.metadata.get("x-amz-checksum-type"))
    decode_hex = codecs.getdecoder("hex_codec")
    parts = []
    md5s = bytearray()
    last = None
    for pn, etag in body:
        part = self.parts.get(pn)
        part_etag = None
        if part is not None:
            part_etag = part.etag.replace('"', "")
            etag = etag.replace('"', "")
        if part is None or part_etag != etag:
            raise InvalidPart()
        if last is not None and last.contentsize < S3_UPLOAD_PART_MIN_SIZE:
            raise EntityTooSmall()
        md5s.extend(decode_hex(part_etag)[0])
        parts.append(part)
        last = part
    if not parts:
        raise MalformedXML

    composite = builder.checksum_type == "COMPOSITE"
    full = None if composite else FullChecksum(builder.checksum_algorithm)
    size = sum(p.contentsize for p in parts)
    buf = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())
    if size > buf._max_size:
        buf.rollover()  # what moto's write would end in, without the copy through memory
    for part in parts:
        value = part.value
        if composite:
            builder.addPart(value)  # a checksum of the part, not a copy
        else:
            full.update(value)
        buf.write(value)
    if composite:
        checksum = builder.build()
    else:
        checksum = (builder.checksum_type, full.value(), 1)
    full_etag = md5_hash()
    full_etag.update(bytes(md5s))
    return Assembled(buf, size), f"{full_etag.hexdigest()}-{len(parts)}", checksum


def _value_set(self, new_value):
    """FakeKey.value setter: moto's, plus adopting an Assembled object's buffer; a value
    larger than the in-memory limit is written to the file directly instead of through
    the BytesIO that SpooledTemporaryFile would then copy out."""
    if isinstance(new_value, Assembled) and new_value.buf._max_size == self._max_buffer_size:
        self._value_buffer.close()
        self._value_buffer = new_value.buf
        self.contentsize = new_value.size
        return
    if isinstance(new_value, Assembled):  # a key with its own buffer size (not from moto's S3)
        new_value.buf.seek(0)
        new_value = new_value.buf.read()
    self._value_buffer.seek(0)
    self._value_buffer.truncate()
    if isinstance(new_value, str):
        new_value = new_value.encode(s3m.DEFAULT_TEXT_ENCODING)
    if len(new_value) > self._max_buffer_size:
        self._value_buffer.rollover()
    self._value_buffer.write(new_value)
    self.contentsize = len(new_value)


def install():
    s3m.FakeMultipart.complete = complete
    s3m.FakeKey.value = s3m.FakeKey.value.setter(_value_set)
