"""deploy/monitoring/ (issues 16 and 18, item 2): the alert rules and the Grafana dashboard
name only metrics the running operator exports, and the rules do what they say.

  - the PrometheusRule's groups pass `promtool check rules`, and `promtool test rules`
    runs deploy/monitoring/rules_test.yaml (alerts fire, and not before their `for`);
  - every dashboard expression is valid PromQL (promtool checks it as a recording rule);
  - every lifeboat_* metric in the rules and in the dashboard is a family in a scrape of a
    running lifeboat-operator (the registry lists every family, also before its first
    sample), with the type its use needs (_bucket/_count/_sum only on histograms).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from test_operator import ROOT, OperatorCase, http_get  # noqa: F401  (no tests imported)

MONITORING = os.path.join(ROOT, "deploy", "monitoring")
METRIC = re.compile(r"\blifeboat_[a-z0-9_]+")


def rule_groups():
    with open(os.path.join(MONITORING, "prometheusrule.yaml")) as f:
        return yaml.safe_load(f)["spec"]["groups"]


def dashboard_exprs():
    with open(os.path.join(MONITORING, "grafana-dashboard.json")) as f:
        d = json.load(f)
    return [t["expr"] for p in d["panels"] for t in p["targets"]]


def promtool(*args, cwd=None):
    return subprocess.run(["promtool"] + list(args), capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def families(text):
    """{name: type} from the # TYPE lines of a scrape."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out[name] = kind
    return out


class TestMonitoring(OperatorCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="lifeboat-monitoring-")
        self.addCleanup(shutil.rmtree, self.dir)

    def test_rules_check_and_unit_tests(self):
        with open(os.path.join(self.dir, "rules.yaml"), "w") as f:
            yaml.safe_dump({"groups": rule_groups()}, f)
        p = promtool("check", "rules", "rules.yaml", cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)
        shutil.copy(os.path.join(MONITORING, "rules_test.yaml"), self.dir)
        p = promtool("test", "rules", "rules_test.yaml", cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_dashboard_expressions_are_promql(self):
        exprs = dashboard_exprs()
        self.assertGreaterEqual(len(exprs), 10)
        rules = [{"record": "lifeboat:dashboard:%d" % i,
                  "expr": e.replace("$__rate_interval", "5m")} for i, e in enumerate(exprs)]
        with open(os.path.join(self.dir, "dash.yaml"), "w") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
        p = promtool("check", "rules", "dash.yaml", cwd=self.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_metric_named_is_exported(self):
        op = self.start("monitoring")
        op.wait_ready()
        status, text = http_get(op.metrics_port, "/metrics")
        self.assertEqual(status, 200)
        exported = families(text)
        named = set()
        for g in rule_groups():
            for r in g["rules"]:
                named.update(METRIC.findall(r["expr"]))
        for e in dashboard_exprs():
            named.update(METRIC.findall(e))
        self.assertGreaterEqual(len(named), 15, named)
        for name in sorted(named):
            with self.subTest(metric=name):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                if base != name and exported.get(base) == "histogram":
                    continue
                self.assertIn(name, exported, "not in the operator's /metrics")

    def test_step_duration_histogram_is_exported_and_charted(self):
        # issue 18: per-step durations by kind/action, named by the dashboard
        name = "lifeboat_restore_step_duration_seconds"
        self.assertTrue([e for e in dashboard_exprs() if name + "_bucket" in e
                         and "kind" in e and "action" in e], "no dashboard panel charts it")
        op = self.start("monitoring-steps")
        op.wait_ready()
        status, text = http_get(op.metrics_port, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(families(text).get(name), "histogram", text[:2000])
        help_line = [line for line in text.splitlines() if line.startswith("# HELP " + name)]
        self.assertEqual(len(help_line), 1)
