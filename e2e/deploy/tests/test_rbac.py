"""deploy/'s RBAC is exactly the table of deploy/README.md, and covers the code.

  - `kubectl kustomize deploy/` renders; the ClusterRole's and the leader Role's rules,
    expanded to (group, resource, verb), equal the README table's rows;
  - every resource the C code names in a Kubernetes reference (kube_ref literals and
    `.resource = "..."`) is in the table, so a new call without a rule fails here;
  - deploy-namespaced/ renders with no ClusterRoleBinding, one RoleBinding per namespace
    of its --namespaces flag, each bound to the same rules;
  - a NetworkPolicy admits /metrics only from the labelled scraper namespace.
"""
import os
import re
import subprocess
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def render(path):
    p = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, path)], capture_output=True,
                       text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("kubectl kustomize %s: %s" % (path, p.stderr))
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def expand(rules):
    out = set()
    for r in rules:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    out.add((g, res, v))
    return out


def table():
    text = open(os.path.join(ROOT, "deploy", "README.md")).read()
    body = text.split("<!-- rbac-table:start -->")[1].split("<!-- rbac-table:end -->")[0]
    out = set()
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("apiGroup", "---") or cells[0].startswith("-"):
            continue
        group = "" if cells[0] == '""' else cells[0]
        for v in cells[2].split(","):
            out.add((group, cells[1], v.strip()))
    return out


class RbacTest(unittest.TestCase):
    def test_rules_equal_the_documented_table(self):
        docs = render("deploy")
        rules = []
        for d in docs:
            # the operator's own roles; approval-policy.yaml's requester/approver roles
            # are for people
            if d["kind"] in ("ClusterRole", "Role") and \
                    d["metadata"]["name"].startswith("lifeboat-operator"):
                rules += d["rules"]
        granted, documented = expand(rules), table()
        self.assertTrue(documented, "empty table")
        self.assertEqual(sorted(granted - documented), [], "granted but not documented")
        self.assertEqual(sorted(documented - granted), [], "documented but not granted")
        for bad in [("", "namespaces", "list"), ("batch", "jobs", "delete"),
                    ("", "secrets", "list"), ("", "secrets", "watch"),
                    ("", "secrets", "delete")]:
            self.assertNotIn(bad, granted)
        self.assertNotIn("*", {v for _, _, v in granted})

    def test_every_resource_the_code_uses_is_granted(self):
        used = set()
        for dirpath, _, files in os.walk(os.path.join(ROOT, "pkg")):
            for f in files:
                if not f.endswith(".c"):
                    continue
                src = open(os.path.join(dirpath, f)).read()
                used |= set(re.findall(r'\.resource = "([a-z]+)"', src))
                used |= set(re.findall(r'res = "([a-z]+)"', src))
                used |= set(re.findall(r'kube_ref \w+ = \{"[a-z0-9.]*", "v1", "([a-z]+)"', src))
        self.assertIn("pods", used)   # the scan sees the calls
        documented = {r for _, r, _ in table()}
        self.assertEqual(sorted(used - documented), [])

    def test_namespaced_overlay(self):
        docs = render("deploy-namespaced")
        # the one cluster-wide grant left: reading the cluster-scoped RecoveryScopes
        crbs = [d["metadata"]["name"] for d in docs if d["kind"] == "ClusterRoleBinding"]
        self.assertEqual(crbs, ["lifeboat-operator-scopes"])
        scopes_role = [d for d in docs if d["kind"] == "ClusterRole"
                       and d["metadata"]["name"] == "lifeboat-operator-scopes"][0]
        self.assertEqual(expand(scopes_role["rules"]),
                         {("lifeboat.dev", "recoveryscopes", v) for v in ("get", "list", "watch")})
        dep = [d for d in docs if d["kind"] == "Deployment"][0]
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        ns_flag = [a for a in args if a.startswith("--namespaces=")]
        self.assertEqual(len(ns_flag), 1, args)
        wanted = set(ns_flag[0].split("=", 1)[1].split(","))
        bound = {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"
                 and d["roleRef"]["name"] == "lifeboat-operator"}
        self.assertEqual(bound, wanted)

    def test_metrics_only_from_the_scraper(self):
        np = [d for d in render("deploy") if d["kind"] == "NetworkPolicy"]
        self.assertEqual(len(np), 1)
        spec = np[0]["spec"]
        self.assertEqual(sorted(spec["policyTypes"]), ["Egress", "Ingress"])
        self.assertEqual(len(spec["ingress"]), 1)
        rule = spec["ingress"][0]
        self.assertEqual([p["port"] for p in rule["ports"]], ["metrics"])
        self.assertEqual(rule["from"][0]["namespaceSelector"]["matchLabels"],
                         {"lifeboat.dev/metrics-scraper": "true"})
        excepts = [e for t in spec["egress"][0]["to"] for e in t["ipBlock"].get("except", [])]
        self.assertIn("169.254.169.254/32", excepts)


if __name__ == "__main__":
    unittest.main()
