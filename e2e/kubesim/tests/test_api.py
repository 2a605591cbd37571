"""kubesim API contract tests: the real kubectl against kubesim, asserting on what kubectl
prints and on the server's state (read back through the raw API)."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubesimenv  # noqa: E402
kubesimenv.ensure()   # a private kubesim when env.sh runs the real control plane
import kube  # noqa: E402
from kube import api, data_path, kubectl, wait_for  # noqa: E402

WIDGETS = "/apis/kubesim.test/v1/namespaces/%s/widgets"


def ensure_widget_crd():
    kubectl("apply", "-f", data_path("widgets-crd.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/widgets.kubesim.test", "--timeout=20s")


def widget(name, size=3, **spec):
    s = {"size": size, "a": "alpha"}
    s.update(spec)
    return {"apiVersion": "kubesim.test/v1", "kind": "Widget", "metadata": {"name": name}, "spec": s}


def get_obj(path):
    r = api("GET", path)
    return r.json() if r.status == 200 else None


class TestAuthAndDiscovery(unittest.TestCase):
    def test_request_without_token_is_401(self):
        r = api("GET", "/api/v1/namespaces", auth=False)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["kind"], "Status")
        self.assertEqual(r.json()["reason"], "Unauthorized")
        r = api("GET", "/api/v1/namespaces", auth=False, headers={"Authorization": "Bearer wrong"})
        self.assertEqual(r.status, 401)

    def test_kubectl_with_wrong_token_is_refused(self):
        p = kubectl("--token", "not-the-token", "get", "namespaces", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Unauthorized", p.stderr + p.stdout)

    def test_auth_can_i_answers_yes(self):
        p = kubectl("auth", "can-i", "create", "deployments", "-n", "default")
        self.assertEqual(p.stdout.strip(), "yes")
        self.assertEqual(api("GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").status, 405)

    def test_version_reports_1_32(self):
        v = api("GET", "/version").json()
        self.assertEqual((v["major"], v["minor"]), ("1", "32"))
        p = kubectl("version", "-o", "json")
        self.assertEqual(json.loads(p.stdout)["serverVersion"]["minor"], "32")

    def test_openapi_v2_is_404_and_v3_lists_group_versions(self):
        self.assertEqual(api("GET", "/openapi/v2").status, 404)
        ensure_widget_crd()
        root = api("GET", "/openapi/v3").json()
        self.assertIn("apis/kubesim.test/v1", root["paths"])
        doc = api("GET", root["paths"]["apis/kubesim.test/v1"]["serverRelativeURL"]).json()
        patch_ops = [p["patch"] for p in doc["paths"].values() if "patch" in p]
        gvks = [op["x-kubernetes-group-version-kind"]["kind"] for op in patch_ops]
        self.assertIn("Widget", gvks)
        params = [p["name"] for p in patch_ops[0]["parameters"]]
        self.assertIn("fieldValidation", params)

    def test_api_resources_shows_short_names_and_status_subresource(self):
        ensure_widget_crd()
        out = kubectl("api-resources", "--api-group=kubesim.test").stdout
        self.assertRegex(out, r"widgets\s+wdg\s+kubesim.test/v1\s+true\s+Widget")
        res = api("GET", "/apis/kubesim.test/v1").json()["resources"]
        names = {r["name"]: r for r in res}
        self.assertIn("widgets/status", names)
        self.assertEqual(names["widgets"]["categories"], ["kubesimtest"])
        core = {r["name"]: r for r in api("GET", "/api/v1").json()["resources"]}
        self.assertEqual(core["configmaps"]["shortNames"], ["cm"])
        self.assertIn("pods/exec", core)


class TestCRDLifecycle(unittest.TestCase):
    def test_apply_crd_and_wait_established(self):
        p = kubectl("apply", "-f", data_path("gadgets-crd.yaml"))
        self.assertIn("customresourcedefinition.apiextensions.k8s.io/gadgets.kubesim.test", p.stdout)
        p = kubectl("wait", "--for=condition=Established", "crd/gadgets.kubesim.test", "--timeout=20s")
        self.assertIn("condition met", p.stdout)
        crd = get_obj("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.kubesim.test")
        conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        self.assertEqual(conds, {"NamesAccepted": "True", "Established": "True"})
        # cluster-scoped custom resource through the new endpoint
        kubectl("apply", "-f", "-", input={"apiVersion": "kubesim.test/v1", "kind": "Gadget",
                                          "metadata": {"name": "g1"}, "spec": {"anything": {"goes": 1}}})
        self.assertEqual(get_obj("/apis/kubesim.test/v1/gadgets/g1")["spec"]["anything"], {"goes": 1})
        self.assertIn("g1", kubectl("get", "gdg").stdout)

    def test_deleting_a_crd_removes_its_endpoint_and_objects(self):
        with open(data_path("gadgets-crd.yaml")) as f:
            crd = yaml.safe_load(f)
        crd["metadata"]["name"] = "tmpthings.kubesim.test"
        crd["spec"]["names"] = {"plural": "tmpthings", "singular": "tmpthing", "kind": "TmpThing"}
        kubectl("apply", "-f", "-", input=crd)
        kubectl("wait", "--for=condition=Established", "crd/tmpthings.kubesim.test", "--timeout=20s")
        kubectl("apply", "-f", "-", input={"apiVersion": "kubesim.test/v1", "kind": "TmpThing",
                                          "metadata": {"name": "t1"}})
        self.assertEqual(api("GET", "/apis/kubesim.test/v1/tmpthings/t1").status, 200)
        kubectl("delete", "crd", "tmpthings.kubesim.test")
        self.assertEqual(api("GET", "/apis/kubesim.test/v1/tmpthings/t1").status, 404)
        p = kubectl("get", "tmpthings", check=False)
        self.assertNotEqual(p.returncode, 0)


class TestCustomResources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_widget_crd()
        cls.ns = kube.unique_ns("cr")

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def path(self, name=""):
        return (WIDGETS % self.ns) + ("/" + name if name else "")

    def test_apply_change_apply_again_uses_merge_patch(self):
        w = widget("apply1", size=2)
        p = kubectl("-n", self.ns, "apply", "-f", "-", input=w)
        self.assertIn("widget.kubesim.test/apply1 created", p.stdout)
        w["spec"]["size"] = 7
        w["spec"]["tags"] = ["one"]
        p = kubectl("-n", self.ns, "apply", "-f", "-", "-v=8", input=w)
        self.assertIn("widget.kubesim.test/apply1 configured", p.stdout)
        self.assertIn("application/merge-patch+json", p.stderr)
        obj = get_obj(self.path("apply1"))
        self.assertEqual(obj["spec"]["size"], 7)
        self.assertEqual(obj["spec"]["tags"], ["one"])
        self.assertEqual(obj["metadata"]["generation"], 2)
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration", obj["metadata"]["annotations"])
        p = kubectl("-n", self.ns, "apply", "-f", "-", input=w)
        self.assertIn("unchanged", p.stdout)

    def test_unknown_field_rejected_with_strict_decoding_error(self):
        w = widget("strict1")
        w["spec"]["bogus"] = 1
        p = kubectl("-n", self.ns, "apply", "-f", "-", input=w, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('strict decoding error: unknown field "spec.bogus"', p.stderr)
        self.assertEqual(api("GET", self.path("strict1")).status, 404)

    def test_unknown_field_with_warn_is_pruned_and_warned(self):
        w = widget("warn1")
        w["spec"]["bogus"] = 1
        r = api("POST", self.path() + "?fieldValidation=Warn", w)
        self.assertEqual(r.status, 201, r)
        self.assertIn('unknown field \\"spec.bogus\\"', r.headers.get("Warning", ""))
        self.assertTrue(r.headers.get("Warning", "").startswith("299 - "))
        self.assertNotIn("bogus", get_obj(self.path("warn1"))["spec"])

    def test_schema_violation_is_422_with_causes(self):
        p = kubectl("-n", self.ns, "apply", "-f", "-", input=widget("bad1", size=40), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('The Widget "bad1" is invalid', p.stderr)
        self.assertIn("spec.size", p.stderr)
        r = api("POST", self.path(), widget("bad1", size="big"))
        self.assertEqual(r.status, 422)
        st = r.json()
        self.assertEqual(st["reason"], "Invalid")
        self.assertEqual(st["details"]["causes"][0]["field"], "spec.size")
        self.assertIn("must be of type integer", st["details"]["causes"][0]["message"])
        r = api("POST", self.path(), widget("bad2", color="purple"))
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json()["details"]["causes"][0]["reason"], "FieldValueNotSupported")
        self.assertEqual(api("GET", self.path("bad1")).status, 404)

    def test_defaults_are_applied(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("def1"))
        self.assertEqual(get_obj(self.path("def1"))["spec"]["color"], "red")

    def test_get_shows_printer_columns_ready_filter_and_short_name(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("cols1", size=4, color="green"))
        kubectl("-n", self.ns, "patch", "wdg", "cols1", "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": {"phase": "Running", "conditions": [
                    {"type": "Other", "status": "False"}, {"type": "Ready", "status": "True"}]}}))
        out = kubectl("-n", self.ns, "get", "wdg", "cols1").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "SIZE", "COLOR", "READY", "PHASE", "AGE"])
        cells = out[1].split()
        self.assertEqual(cells[:5], ["cols1", "4", "green", "True", "Running"])
        self.assertRegex(cells[5], r"^\d+s$")

    def test_get_watch_sees_a_change(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("watch1", size=1))
        proc = subprocess.Popen([kube.KUBECTL, "--kubeconfig", kube.kubeconfig_path(), "--cache-dir", kube._CACHE_DIR,
                                 "-n", self.ns, "get", "wdg", "watch1", "-w"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            header = proc.stdout.readline()
            self.assertEqual(header.split()[:3], ["NAME", "SIZE", "COLOR"])
            first = proc.stdout.readline()
            self.assertEqual(first.split()[:2], ["watch1", "1"])
            kubectl("-n", self.ns, "patch", "wdg", "watch1", "--type=merge", "-p", '{"spec":{"size":9}}')
            line = proc.stdout.readline()
            self.assertEqual(line.split()[:2], ["watch1", "9"])
        finally:
            proc.kill()
            proc.communicate()

    def test_output_yaml_matches_server_state(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("yaml1", size=5))
        y = yaml.safe_load(kubectl("-n", self.ns, "get", "widget", "yaml1", "-o", "yaml").stdout)
        srv = get_obj(self.path("yaml1"))
        self.assertEqual(y["spec"], srv["spec"])
        self.assertEqual(y["metadata"]["uid"], srv["metadata"]["uid"])
        self.assertEqual(y["apiVersion"], "kubesim.test/v1")

    def test_patch_merge_json_status_and_strategic_is_415(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("patch1", size=2))
        kubectl("-n", self.ns, "patch", "wdg", "patch1", "--type=merge", "-p", '{"spec":{"size":3}}')
        kubectl("-n", self.ns, "patch", "wdg", "patch1", "--type=json", "-p",
                '[{"op":"add","path":"/spec/tags","value":["t"]},{"op":"replace","path":"/spec/color","value":"blue"}]')
        o = get_obj(self.path("patch1"))
        self.assertEqual((o["spec"]["size"], o["spec"]["tags"], o["spec"]["color"]), (3, ["t"], "blue"))
        p = kubectl("-n", self.ns, "patch", "wdg", "patch1", "-p", '{"spec":{"size":4}}', check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("strategic-merge-patch", p.stderr)
        r = api("PATCH", self.path("patch1"), {"spec": {"size": 4}},
                content_type="application/strategic-merge-patch+json")
        self.assertEqual(r.status, 415)
        kubectl("-n", self.ns, "patch", "wdg", "patch1", "--subresource=status", "--type=merge", "-p",
                '{"status":{"phase":"Done"},"spec":{"size":8}}')
        o = get_obj(self.path("patch1"))
        self.assertEqual(o["status"]["phase"], "Done")
        self.assertEqual(o["spec"]["size"], 3, "a /status write must not change spec")
        # and an object write must not change status
        kubectl("-n", self.ns, "patch", "wdg", "patch1", "--type=merge", "-p", '{"status":{"phase":"Hacked"}}')
        self.assertEqual(get_obj(self.path("patch1"))["status"]["phase"], "Done")

    def test_generation_moves_only_on_spec_changes(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("gen1"))
        g = lambda: get_obj(self.path("gen1"))["metadata"]["generation"]  # noqa: E731
        self.assertEqual(g(), 1)
        kubectl("-n", self.ns, "patch", "wdg", "gen1", "--subresource=status", "--type=merge", "-p",
                '{"status":{"phase":"X"}}')
        kubectl("-n", self.ns, "label", "wdg", "gen1", "a=b")
        self.assertEqual(g(), 1)
        kubectl("-n", self.ns, "patch", "wdg", "gen1", "--type=merge", "-p", '{"spec":{"size":6}}')
        self.assertEqual(g(), 2)

    def test_wait_for_condition_and_jsonpath(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("wait1"))

        def later():
            time.sleep(1.0)
            o = get_obj(self.path("wait1"))
            kubectl("-n", self.ns, "patch", "wdg", "wait1", "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"phase": "Ready", "conditions": [{
                        "type": "Ready", "status": "True", "observedGeneration": o["metadata"]["generation"]}]}}))
        t = threading.Thread(target=later)
        t.start()
        try:
            p = kubectl("-n", self.ns, "wait", "--for=condition=Ready", "wdg/wait1", "--timeout=20s")
            self.assertIn("condition met", p.stdout)
            p = kubectl("-n", self.ns, "wait", "--for=jsonpath={.status.phase}=Ready", "wdg/wait1", "--timeout=20s")
            self.assertIn("condition met", p.stdout)
        finally:
            t.join()
        # a condition older than the current generation does not count
        kubectl("-n", self.ns, "patch", "wdg", "wait1", "--type=merge", "-p", '{"spec":{"size":9}}')
        p = kubectl("-n", self.ns, "wait", "--for=condition=Ready", "wdg/wait1", "--timeout=2s", check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_conflict_on_stale_resource_version_and_already_exists(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("cfl1"))
        o = get_obj(self.path("cfl1"))
        stale = json.loads(json.dumps(o))
        kubectl("-n", self.ns, "patch", "wdg", "cfl1", "--type=merge", "-p", '{"spec":{"size":5}}')
        stale["spec"]["size"] = 6
        p = kubectl("-n", self.ns, "replace", "-f", "-", input=stale, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("the object has been modified", p.stderr)
        r = api("PUT", self.path("cfl1"), stale)
        self.assertEqual((r.status, r.json()["reason"]), (409, "Conflict"))
        del stale["metadata"]["resourceVersion"]
        r = api("PUT", self.path("cfl1"), stale)
        self.assertEqual(r.status, 422, "custom resources need a resourceVersion on update")
        p = kubectl("-n", self.ns, "create", "-f", "-", input=widget("cfl1"), check=False)
        self.assertIn("AlreadyExists", p.stderr)
        self.assertIn('"cfl1" already exists', p.stderr)
        self.assertEqual(get_obj(self.path("cfl1"))["spec"]["size"], 5)

    def test_resource_version_is_global_and_monotonic(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=widget("rv1"))
        a = int(get_obj(self.path("rv1"))["metadata"]["resourceVersion"])
        kubectl("-n", self.ns, "create", "configmap", "rvcm", "--from-literal=k=v")
        b = int(get_obj("/api/v1/namespaces/%s/configmaps/rvcm" % self.ns)["metadata"]["resourceVersion"])
        kubectl("-n", self.ns, "patch", "wdg", "rv1", "--type=merge", "-p", '{"spec":{"size":2}}')
        c = int(get_obj(self.path("rv1"))["metadata"]["resourceVersion"])
        self.assertLess(a, b)
        self.assertLess(b, c)
        lst = api("GET", self.path()).json()
        self.assertGreaterEqual(int(lst["metadata"]["resourceVersion"]), c)

    def test_server_side_apply(self):
        w = widget("ssa1", size=2)
        p = kubectl("-n", self.ns, "apply", "--server-side", "-f", "-", input=w)
        self.assertIn("serverside-applied", p.stdout)
        w["spec"]["size"] = 5
        kubectl("-n", self.ns, "apply", "--server-side", "-f", "-", input=w)
        self.assertEqual(get_obj(self.path("ssa1"))["spec"]["size"], 5)


class TestListing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("list")
        for i in range(7):
            kubectl("-n", cls.ns, "apply", "-f", "-", input={
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "cm%d" % i, "labels": {"tier": "a" if i % 2 else "b", "idx": str(i)}},
                "data": {"i": str(i)}})

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def test_limit_and_continue(self):
        path = "/api/v1/namespaces/%s/configmaps?limit=3" % self.ns
        seen = []
        pages = 0
        while True:
            r = api("GET", path).json()
            seen += [i["metadata"]["name"] for i in r["items"]]
            pages += 1
            cont = r["metadata"].get("continue")
            if not cont:
                break
            self.assertLessEqual(len(r["items"]), 3)
            path = "/api/v1/namespaces/%s/configmaps?limit=3&continue=%s" % (self.ns, cont)
        self.assertEqual(sorted(seen), ["cm%d" % i for i in range(7)])
        self.assertEqual(pages, 3)
        p = kubectl("-n", self.ns, "get", "cm", "--chunk-size=2", "-o", "name", "-v=6")
        self.assertEqual(len([x for x in p.stdout.splitlines() if x.startswith("configmap/cm")]), 7)
        self.assertIn("continue=", p.stderr)

    def test_label_and_field_selectors(self):
        out = kubectl("-n", self.ns, "get", "cm", "-l", "tier=a", "-o", "name").stdout.split()
        self.assertEqual(sorted(out), ["configmap/cm1", "configmap/cm3", "configmap/cm5"])
        out = kubectl("-n", self.ns, "get", "cm", "-l", "tier!=a,idx in (0,2,9)", "-o", "name").stdout.split()
        self.assertEqual(sorted(out), ["configmap/cm0", "configmap/cm2"])
        out = kubectl("-n", self.ns, "get", "cm", "--field-selector", "metadata.name=cm4", "-o", "name").stdout.split()
        self.assertEqual(out, ["configmap/cm4"])
        r = api("GET", "/api/v1/configmaps?fieldSelector=metadata.namespace%%3D%s&labelSelector=idx" % self.ns)
        self.assertEqual(len(r.json()["items"]), 7)

    def test_hostile_bodies_are_400(self):
        laughs = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
                  "  a: &a [x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  "  c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n")
        r = api("PATCH", "/api/v1/namespaces/%s/configmaps/lol?fieldManager=t" % self.ns, laughs,
                content_type="application/apply-patch+yaml")
        self.assertEqual(r.status, 400)
        self.assertIn("aliases are not allowed", r.json()["message"])
        deep = "[" * 150 + "]" * 150
        r = api("POST", "/api/v1/namespaces/%s/configmaps" % self.ns,
                '{"metadata":{"name":"deep"},"data":{"x":"y"},"z":%s}' % deep)
        self.assertEqual(r.status, 400)
        self.assertIn("deeper than", r.json()["message"])
        r = api("POST", "/api/v1/namespaces/%s/configmaps" % self.ns, "{not json")
        self.assertEqual((r.status, r.json()["reason"]), (400, "BadRequest"))
        self.assertEqual(api("GET", "/api/v1/namespaces/%s/configmaps/lol" % self.ns).status, 404)

    def test_body_over_limit_is_413(self):
        big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
               "data": {"x": "a" * (3 * 1024 * 1024 + 10)}}
        r = api("POST", "/api/v1/namespaces/%s/configmaps" % self.ns, big)
        self.assertEqual(r.status, 413)
        self.assertEqual(r.json()["reason"], "RequestEntityTooLarge")


class TestBuiltins(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("bi")

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def deployment(self, name, env):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}},
                                      "spec": {"containers": [{"name": "main", "image": "none",
                                                               "command": ["sleep", "600"], "env": env}]}}}}

    def dep(self, name):
        return get_obj("/apis/apps/v1/namespaces/%s/deployments/%s" % (self.ns, name))

    def test_strategic_merge_patch_on_deployment(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=self.deployment("smp1", [{"name": "A", "value": "1"}]))
        p = kubectl("-n", self.ns, "patch", "deployment", "smp1", "-v=8", "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "2"}]}]}}}}))
        self.assertIn("application/strategic-merge-patch+json", p.stderr)
        c = self.dep("smp1")["spec"]["template"]["spec"]["containers"]
        self.assertEqual(len(c), 1, "containers merged by name, not replaced")
        self.assertEqual(c[0]["image"], "none")
        self.assertEqual(c[0]["env"], [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        # $patch: delete removes one element by its merge key
        kubectl("-n", self.ns, "patch", "deployment", "smp1", "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [
                {"name": "A", "$patch": "delete"}]}]}}}}))
        self.assertEqual(self.dep("smp1")["spec"]["template"]["spec"]["containers"][0]["env"],
                         [{"name": "B", "value": "2"}])

    def test_apply_twice_on_deployment_uses_strategic_merge(self):
        d = self.deployment("app2", [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        kubectl("-n", self.ns, "apply", "-f", "-", input=d)
        d["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
        p = kubectl("-n", self.ns, "apply", "-f", "-", "-v=8", input=d)
        self.assertIn("deployment.apps/app2 configured", p.stdout)
        self.assertIn("application/strategic-merge-patch+json", p.stderr)
        self.assertIn("$setElementOrder", p.stderr)
        o = self.dep("app2")
        self.assertEqual(o["spec"]["template"]["spec"]["containers"][0]["env"],
                         [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        self.assertEqual(o["metadata"]["generation"], 2)

    def test_create_secret_and_configmap_send_protobuf(self):
        p = kubectl("-n", self.ns, "create", "secret", "generic", "sec1", "--from-literal=user=admin",
                    "--from-literal=password=s3cr3t", "-v=8")
        self.assertIn("secret/sec1 created", p.stdout)
        self.assertIn("Content-Type: application/vnd.kubernetes.protobuf", p.stderr)
        s = get_obj("/api/v1/namespaces/%s/secrets/sec1" % self.ns)
        self.assertEqual(s["type"], "Opaque")
        import base64
        self.assertEqual(base64.b64decode(s["data"]["password"]).decode(), "s3cr3t")
        kubectl("-n", self.ns, "create", "configmap", "cm1", "--from-literal=a=1", "--from-literal=b=two")
        c = get_obj("/api/v1/namespaces/%s/configmaps/cm1" % self.ns)
        self.assertEqual(c["data"], {"a": "1", "b": "two"})
        out = kubectl("-n", self.ns, "get", "secret", "sec1").stdout.split()
        self.assertEqual(out[4:7], ["sec1", "Opaque", "2"])
        kubectl("-n", self.ns, "create", "secret", "generic", "sec2", "--type=kubernetes.io/basic-auth",
                "--from-literal=username=u", "--from-literal=password=p", "--dry-run=server", "-o", "name")
        self.assertEqual(api("GET", "/api/v1/namespaces/%s/secrets/sec2" % self.ns).status, 404)

    def test_events_core_and_events_k8s_io(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input={
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev1"},
            "involvedObject": {"kind": "Widget", "name": "w1", "namespace": self.ns},
            "reason": "StepStarted", "message": "restore step began", "type": "Normal",
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1})
        out = kubectl("-n", self.ns, "get", "events").stdout
        self.assertIn("StepStarted", out)
        self.assertIn("widget/w1", out)
        self.assertIn("restore step began", out)
        r = api("POST", "/apis/events.k8s.io/v1/namespaces/%s/events" % self.ns, {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev2"},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "lifeboat", "reportingInstance": "x",
            "action": "Restore", "reason": "StepFailed", "note": "boom", "type": "Warning",
            "regarding": {"kind": "Widget", "name": "w2", "namespace": self.ns}})
        self.assertEqual(r.status, 201, r)
        out = kubectl("-n", self.ns, "get", "events.events.k8s.io").stdout
        self.assertIn("StepFailed", out)
        # one set of objects, two shapes: each group sees the other's events
        core = get_obj("/api/v1/namespaces/%s/events/ev2" % self.ns)
        self.assertEqual((core["apiVersion"], core["message"], core["involvedObject"]["name"]), ("v1", "boom", "w2"))
        out = kubectl("-n", self.ns, "get", "events").stdout
        self.assertIn("StepFailed", out)
        self.assertIn("widget/w2", out)
        v1 = get_obj("/apis/events.k8s.io/v1/namespaces/%s/events/ev1" % self.ns)
        self.assertEqual((v1["note"], v1["regarding"]["name"]), ("restore step began", "w1"))
        sel = api("GET", "/apis/events.k8s.io/v1/namespaces/%s/events?fieldSelector=regarding.name%%3Dw2" % self.ns)
        self.assertEqual([e["metadata"]["name"] for e in sel.json()["items"]], ["ev2"])
        r = api("PATCH", "/apis/events.k8s.io/v1/namespaces/%s/events/ev2" % self.ns, {"note": "boom again"},
                content_type="application/merge-patch+json")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(get_obj("/api/v1/namespaces/%s/events/ev2" % self.ns)["message"], "boom again")

    def test_lease_created_and_updated(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"},
                 "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15,
                          "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:00.000000Z"}}
        p = kubectl("-n", self.ns, "create", "-f", "-", input=lease)
        self.assertIn("lease.coordination.k8s.io/leader created", p.stdout)
        path = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/leader" % self.ns
        o = get_obj(path)
        o["spec"]["holderIdentity"] = "pod-b"
        o["spec"]["renewTime"] = "2026-01-01T00:00:10.000000Z"
        r = api("PUT", path, o)
        self.assertEqual(r.status, 200)
        self.assertGreater(int(r.json()["metadata"]["resourceVersion"]), int(o["metadata"]["resourceVersion"]))
        self.assertEqual(api("PUT", path, o).status, 409, "a second update with the old resourceVersion conflicts")
        out = kubectl("-n", self.ns, "get", "lease", "leader").stdout
        self.assertIn("pod-b", out)

    def test_unknown_fields_in_builtin_kinds(self):
        d = self.deployment("typo1", [])
        d["spec"]["replica"] = 2
        d["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "x"
        p = kubectl("-n", self.ns, "apply", "-f", "-", input=d, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('strict decoding error: unknown field "spec.replica", unknown field '
                      '"spec.template.spec.containers[0].imagePolicy"', p.stderr)
        self.assertIsNone(self.dep("typo1"))
        r = api("POST", "/apis/apps/v1/namespaces/%s/deployments?fieldValidation=Warn" % self.ns, d)
        self.assertEqual(r.status, 201)
        warnings = r.headers.get_all("Warning")
        self.assertEqual(len(warnings), 2, warnings)
        self.assertIn('299 - "unknown field \\"spec.replica\\""', warnings)
        self.assertNotIn("replica", self.dep("typo1")["spec"])

    def test_scale_subresource(self):
        kubectl("-n", self.ns, "apply", "-f", "-", input=self.deployment("sc1", []))
        kubectl("-n", self.ns, "scale", "deployment", "sc1", "--replicas=0")
        self.assertEqual(self.dep("sc1")["spec"]["replicas"], 0)


class TestDeletion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("del")

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def cm_path(self, name):
        return "/api/v1/namespaces/%s/configmaps/%s" % (self.ns, name)

    def cm(self, name, owner=None, finalizers=None):
        o = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}}
        if owner:
            o["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                                 "uid": owner["metadata"]["uid"]}]
        if finalizers:
            o["metadata"]["finalizers"] = finalizers
        r = api("POST", "/api/v1/namespaces/%s/configmaps" % self.ns, o)
        self.assertEqual(r.status, 201, r)
        return r.json()

    def test_delete_with_finalizer_is_202_then_gone(self):
        self.cm("fin1", finalizers=["kubesim.test/hold"])
        r = api("DELETE", self.cm_path("fin1"))
        self.assertEqual(r.status, 202)
        self.assertIn("deletionTimestamp", r.json()["metadata"])
        o = get_obj(self.cm_path("fin1"))
        self.assertIsNotNone(o, "object stays while a finalizer remains")
        self.assertIn("deletionTimestamp", o["metadata"])
        self.cm("fin2", finalizers=["kubesim.test/hold"])
        p = kubectl("-n", self.ns, "delete", "cm", "fin2", "--wait=false")
        self.assertIn('configmap "fin2" deleted', p.stdout)
        self.assertIsNotNone(get_obj(self.cm_path("fin2")))
        kubectl("-n", self.ns, "patch", "cm", "fin1", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
        kubectl("-n", self.ns, "patch", "cm", "fin2", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        self.assertEqual(api("GET", self.cm_path("fin1")).status, 404)
        self.assertEqual(api("GET", self.cm_path("fin2")).status, 404)

    def test_owner_reference_cascade_background(self):
        owner = self.cm("own1")
        self.cm("dep1a", owner=owner)
        grand = self.cm("dep1b", owner=owner)
        self.cm("dep1c", owner=grand)
        p = kubectl("-n", self.ns, "delete", "cm", "own1")
        self.assertIn('configmap "own1" deleted', p.stdout)
        for n in ("dep1a", "dep1b", "dep1c"):
            wait_for(lambda n=n: api("GET", self.cm_path(n)).status == 404, 10, message="%s collected" % n)

    def test_owner_reference_cascade_foreground(self):
        owner = self.cm("own2")
        self.cm("dep2a", owner=owner, finalizers=["kubesim.test/hold"])
        r = api("DELETE", self.cm_path("own2"), {"kind": "DeleteOptions", "apiVersion": "v1",
                                                 "propagationPolicy": "Foreground"})
        self.assertEqual(r.status, 202)
        self.assertIn("foregroundDeletion", r.json()["metadata"]["finalizers"])
        wait_for(lambda: "deletionTimestamp" in get_obj(self.cm_path("dep2a"))["metadata"], 10)
        time.sleep(0.5)
        self.assertIsNotNone(get_obj(self.cm_path("own2")), "owner waits for its dependents")
        kubectl("-n", self.ns, "patch", "cm", "dep2a", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
        wait_for(lambda: api("GET", self.cm_path("own2")).status == 404, 10, message="owner gone")

    def test_orphan_keeps_dependents(self):
        owner = self.cm("own3")
        self.cm("dep3a", owner=owner)
        kubectl("-n", self.ns, "delete", "cm", "own3", "--cascade=orphan")
        wait_for(lambda: api("GET", self.cm_path("own3")).status == 404, 10)
        time.sleep(0.5)
        d = get_obj(self.cm_path("dep3a"))
        self.assertIsNotNone(d)
        self.assertNotIn("ownerReferences", d["metadata"])

    def test_namespace_deletion_removes_contents(self):
        ns = kube.unique_ns("gone")
        kubectl("-n", ns, "create", "configmap", "x", "--from-literal=a=b")
        kubectl("delete", "namespace", ns, "--timeout=20s")
        self.assertEqual(api("GET", "/api/v1/namespaces/%s" % ns).status, 404)
        self.assertEqual(api("GET", "/api/v1/namespaces/%s/configmaps/x" % ns).status, 404)


class TestWatch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ns = kube.unique_ns("watch")

    @classmethod
    def tearDownClass(cls):
        kube.delete_ns(cls.ns)

    def test_rv0_gives_synthetic_added_then_live_events(self):
        kubectl("-n", self.ns, "create", "configmap", "w0", "--from-literal=a=1")
        base = ("/api/v1/namespaces/%s/configmaps?watch=true&resourceVersion=0&timeoutSeconds=5"
                "&fieldSelector=metadata.name%%3Dw0" % self.ns)
        got = []

        def run():
            got.extend(kube.watch(base, max_events=2))
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.5)
        kubectl("-n", self.ns, "patch", "cm", "w0", "--type=merge", "-p", '{"data":{"a":"2"}}')
        t.join(10)
        self.assertEqual([e["type"] for e in got], ["ADDED", "MODIFIED"])
        self.assertEqual(got[1]["object"]["data"]["a"], "2")

    def test_replay_after_resource_version(self):
        r = api("POST", "/api/v1/namespaces/%s/configmaps" % self.ns, {"metadata": {"name": "w1"}, "data": {"a": "1"}})
        rv = r.json()["metadata"]["resourceVersion"]
        kubectl("-n", self.ns, "patch", "cm", "w1", "--type=merge", "-p", '{"data":{"a":"2"}}')
        kubectl("-n", self.ns, "delete", "cm", "w1")
        evs = kube.watch("/api/v1/namespaces/%s/configmaps?watch=true&resourceVersion=%s&timeoutSeconds=2"
                         "&fieldSelector=metadata.name%%3Dw1" % (self.ns, rv), max_events=2)
        self.assertEqual([e["type"] for e in evs], ["MODIFIED", "DELETED"])
        # the deprecated /watch/ path form names the object in the path
        evs = kube.watch("/api/v1/watch/namespaces/%s/configmaps/w1?resourceVersion=%s&timeoutSeconds=2"
                         % (self.ns, rv), max_events=2)
        self.assertEqual([e["type"] for e in evs], ["MODIFIED", "DELETED"])
        self.assertGreater(int(evs[0]["object"]["metadata"]["resourceVersion"]), int(rv))

    def test_label_selector_watch(self):
        kubectl("-n", self.ns, "create", "configmap", "sel1", "--from-literal=a=1")
        evs = []
        t = threading.Thread(target=lambda: evs.extend(kube.watch(
            "/api/v1/namespaces/%s/configmaps?watch=true&labelSelector=pick%%3Dyes&timeoutSeconds=5&resourceVersion=%s"
            % (self.ns, api("GET", "/api/v1/namespaces/%s/configmaps" % self.ns).json()["metadata"]["resourceVersion"]),
            max_events=2)))
        t.start()
        time.sleep(0.5)
        kubectl("-n", self.ns, "label", "cm", "sel1", "pick=yes")
        kubectl("-n", self.ns, "label", "cm", "sel1", "pick-")
        t.join(10)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])

    def test_too_old_resource_version_gets_410_and_bookmarks_arrive(self):
        with kube.PrivateServer("--history", "5", "--bookmark-interval", "0.3") as srv:
            kc = srv.kubeconfig
            for i in range(12):
                r = api("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "h%d" % i}}, kubeconfig=kc)
                self.assertEqual(r.status, 201)
            evs = kube.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=3", kubeconfig=kc,
                             max_events=1)
            self.assertEqual(evs[0]["type"], "ERROR")
            self.assertEqual(evs[0]["object"]["code"], 410)
            self.assertEqual(evs[0]["object"]["reason"], "Expired")
            rv = api("GET", "/api/v1/namespaces/default/configmaps", kubeconfig=kc).json()["metadata"]["resourceVersion"]
            evs = []
            th = threading.Thread(target=lambda: evs.extend(kube.watch(
                "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=%s"
                "&allowWatchBookmarks=true&timeoutSeconds=2" % rv, kubeconfig=kc)))
            th.start()
            time.sleep(0.5)
            other = api("POST", "/api/v1/namespaces/default/secrets", {"metadata": {"name": "other"}}, kubeconfig=kc)
            th.join(10)
            bms = [e for e in evs if e["type"] == "BOOKMARK"]
            self.assertGreaterEqual(len(bms), 2)
            self.assertEqual(bms[0]["object"]["kind"], "ConfigMap")
            self.assertGreaterEqual(int(bms[0]["object"]["metadata"]["resourceVersion"]), int(rv))
            # a quiet watch's bookmarks still advance with writes to other resources
            self.assertGreaterEqual(int(bms[-1]["object"]["metadata"]["resourceVersion"]),
                                    int(other.json()["metadata"]["resourceVersion"]))
            self.assertEqual([e["type"] for e in evs if e["type"] != "BOOKMARK"], [])
            # no bookmarks unless asked for; timeoutSeconds ends the stream
            t0 = time.monotonic()
            evs = kube.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=%s&timeoutSeconds=1"
                             % rv, kubeconfig=kc)
            self.assertEqual(evs, [])
            self.assertLess(time.monotonic() - t0, 5)
            # kubectl itself copes with a short history (relists on 410)
            p = kube.kubectl("get", "cm", "-o", "name", kubeconfig=kc)
            self.assertEqual(len(p.stdout.split()), 12)


class TestConcurrentWrites(unittest.TestCase):
    def test_concurrent_patches_and_puts_lose_no_update(self):
        ns = kube.unique_ns("conc")
        try:
            path = "/api/v1/namespaces/%s/configmaps/shared" % ns
            self.assertEqual(api("POST", "/api/v1/namespaces/%s/configmaps" % ns,
                                 {"metadata": {"name": "shared"}, "data": {}}).status, 201)
            errors = []

            def patcher(t):
                for i in range(10):
                    r = api("PATCH", path, {"data": {"k%d_%d" % (t, i): "v"}},
                            content_type="application/merge-patch+json")
                    if r.status != 200:
                        errors.append(r)
            ths = [threading.Thread(target=patcher, args=(t,)) for t in range(8)]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            self.assertEqual(errors, [])
            self.assertEqual(len(get_obj(path)["data"]), 80)
            # optimistic concurrency: of N writers holding the same resourceVersion, one wins
            base = get_obj(path)
            codes = []

            def putter(t):
                o = json.loads(json.dumps(base))
                o["data"]["winner"] = str(t)
                codes.append(api("PUT", path, o).status)
            ths = [threading.Thread(target=putter, args=(t,)) for t in range(6)]
            for th in ths:
                th.start()
            for th in ths:
                th.join()
            self.assertEqual(sorted(codes), [200] + [409] * 5)
        finally:
            kube.delete_ns(ns)


class TestScaleSmall(unittest.TestCase):
    """Correctness at a modest scale (timings are measured by scale.py, not asserted)."""

    def test_many_objects_and_concurrent_watchers(self):
        ensure_widget_crd()
        ns = kube.unique_ns("scale")
        try:
            rv = api("GET", WIDGETS % ns).json()["metadata"]["resourceVersion"]
            results = [None] * 20

            def watcher(i):
                results[i] = kube.watch("%s?watch=true&resourceVersion=%s&timeoutSeconds=20" % (WIDGETS % ns, rv),
                                        max_events=200)
            ths = [threading.Thread(target=watcher, args=(i,)) for i in range(20)]
            for t in ths:
                t.start()
            time.sleep(0.5)

            def creator(lo, hi):
                for i in range(lo, hi):
                    r = api("POST", WIDGETS % ns, widget("s%03d" % i))
                    assert r.status == 201, r
            cs = [threading.Thread(target=creator, args=(k * 50, k * 50 + 50)) for k in range(4)]
            for t in cs:
                t.start()
            for t in cs:
                t.join()
            for t in ths:
                t.join(30)
            for evs in results:
                self.assertEqual(len(evs), 200)
                self.assertEqual({e["object"]["metadata"]["name"] for e in evs}, {"s%03d" % i for i in range(200)})
            lst = api("GET", WIDGETS % ns).json()
            self.assertEqual(len(lst["items"]), 200)
            out = kubectl("-n", ns, "get", "wdg", "--no-headers").stdout.splitlines()
            self.assertEqual(len(out), 200)
        finally:
            kube.delete_ns(ns)


if __name__ == "__main__":
    unittest.main()
