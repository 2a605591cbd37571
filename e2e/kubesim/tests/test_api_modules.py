"""Direct tests of kubesim's pure helpers (no server): the JSONPath subset,
strategic merge patch, ages, the protobuf decoder."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import jsonpath  # noqa: E402
import patch  # noqa: E402
import protobuf  # noqa: E402
import tables  # noqa: E402


class TestJSONPath(unittest.TestCase):
    OBJ = {"status": {"conditions": [{"type": "Valid", "status": "False"}, {"type": "Ready", "status": "True"}],
                      "steps": [{"n": 1}, {"n": 2}, {"n": 3}]},
           "metadata": {"labels": {"app.kubernetes.io/name": "x"}}}

    def test_filter_index_star_quote(self):
        f = jsonpath.find
        self.assertEqual(f('.status.conditions[?(@.type=="Ready")].status', self.OBJ), ["True"])
        self.assertEqual(f(".status.conditions[?(@.type!='Ready')].type", self.OBJ), ["Valid"])
        self.assertEqual(f(".status.steps[-1].n", self.OBJ), [3])
        self.assertEqual(f(".status.steps[*].n", self.OBJ), [1, 2, 3])
        self.assertEqual(f(".status.steps[0:2].n", self.OBJ), [1, 2])
        self.assertEqual(f(".status.steps[?(@.n>1)].n", self.OBJ), [2, 3])
        self.assertEqual(f("{.metadata.labels['app.kubernetes.io/name']}", self.OBJ), ["x"])
        self.assertEqual(f("..n", self.OBJ), [1, 2, 3])
        self.assertEqual(f(".status.nothing", self.OBJ), [])

    def test_bad_path_is_rejected(self):
        with self.assertRaises(jsonpath.JSONPathError):
            jsonpath.compile_path(".a[?(@.b ~ 1)]")


class TestStrategicMerge(unittest.TestCase):
    def test_lists_merge_by_key_with_order_and_delete(self):
        cur = {"spec": {"containers": [{"name": "a", "image": "1", "env": [{"name": "X", "value": "1"}]},
                                       {"name": "b", "image": "2"}],
                        "finalizers": ["f1"]},
               "metadata": {"finalizers": ["x"]}}
        p = {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                      "containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                     {"name": "b", "$patch": "delete"}]},
             "metadata": {"finalizers": ["y"]}}
        out = patch.strategic_merge(cur, p)
        self.assertEqual(out["spec"]["containers"], [{"name": "a", "image": "1", "env": [
            {"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}])
        self.assertEqual(out["metadata"]["finalizers"], ["x", "y"])

    def test_null_deletes_and_replace_directive(self):
        cur = {"a": {"b": 1, "c": 2}, "d": [1, 2]}
        self.assertEqual(patch.strategic_merge(cur, {"a": {"b": None}, "d": [3]}), {"a": {"c": 2}, "d": [3]})
        self.assertEqual(patch.strategic_merge(cur, {"a": {"$patch": "replace", "z": 1}}), {"a": {"z": 1}, "d": [1, 2]})

    def test_service_ports_merge_by_port(self):
        cur = {"ports": [{"port": 80, "name": "http"}]}
        out = patch.strategic_merge(cur, {"ports": [{"port": 443, "name": "https"}]})
        self.assertEqual([p["port"] for p in out["ports"]], [80, 443])

    def test_merge_patch(self):
        self.assertEqual(patch.merge_patch({"a": {"b": 1}, "l": [1]}, {"a": {"c": 2}, "l": None}),
                         {"a": {"b": 1, "c": 2}})


class TestAgesAndProtobuf(unittest.TestCase):
    def test_human_duration(self):
        hd = tables.human_duration
        self.assertEqual([hd(4), hd(119), hd(125), hd(600), hd(3 * 3600 + 60), hd(50 * 3600), hd(9 * 86400)],
                         ["4s", "119s", "2m5s", "10m", "3h1m", "2d2h", "9d"])

    def test_protobuf_secret(self):
        def ld(num, b):
            return bytes([num << 3 | 2, len(b)]) + b
        meta = ld(1, b"s1") + ld(11, ld(1, b"app") + ld(2, b"x"))
        secret = ld(1, meta) + ld(2, ld(1, b"k") + ld(2, b"\x00\xff")) + ld(3, b"Opaque")
        body = protobuf.MAGIC + ld(1, ld(1, b"v1") + ld(2, b"Secret")) + ld(2, secret)
        o = protobuf.decode(body)
        self.assertEqual(o["metadata"], {"name": "s1", "labels": {"app": "x"}})
        self.assertEqual(o["data"], {"k": "AP8="})
        self.assertEqual(o["type"], "Opaque")

    def test_protobuf_rejects_garbage(self):
        with self.assertRaises(protobuf.ProtoError):
            protobuf.decode(b"k8s\x00\x0a\xff")
        with self.assertRaises(protobuf.ProtoError):
            protobuf.decode(b"{}")
        with self.assertRaises(protobuf.UnsupportedKind):
            protobuf.decode(protobuf.MAGIC + b"\x0a\x0c\x0a\x02v1\x12\x06Widget")


if __name__ == "__main__":
    unittest.main()
