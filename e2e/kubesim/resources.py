"""Resource types kubesim serves: the built-in kinds and those registered by CRDs."""

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced=True, short=(), categories=(),
                 status=False, builtin=True, singular=None, crd=None, versions=None, scale=False):
        self.group = group
        self.version = version              # preferred / storage version
        self.versions = versions or [version]
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)
        self.categories = list(categories)
        self.status = status
        self.scale = scale
        self.builtin = builtin
        self.singular = singular or kind.lower()
        self.crd = crd                       # the CRD object (custom resources)
        # a view type is stored as another type (store_gr) and converted on the way in/out
        self.store_gr = (group, plural)
        self.view = None
        self.unview = None

    @property
    def gr(self):
        return (self.group, self.plural)

    def api_version(self, version=None):
        v = version or self.version
        return "%s/%s" % (self.group, v) if self.group else v

    def qualified(self):
        """'deployments.apps' / 'pods' as used in Status messages."""
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def kind_qualified(self):
        return "%s.%s" % (self.kind, self.group) if self.group else self.kind


ALL = ["all"]

# core/v1 Event field <-> events.k8s.io/v1 Event field (the same objects, two shapes)
EVENT_FIELDS = [("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
                ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
                ("count", "deprecatedCount"), ("reportingComponent", "reportingController"),
                ("reportingInstance", "reportingInstance"), ("eventTime", "eventTime"), ("series", "series"),
                ("action", "action"), ("reason", "reason"), ("type", "type"), ("related", "related")]


def core_event_to_events_v1(o):
    v = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": o.get("metadata", {})}
    for core, ev in EVENT_FIELDS:
        if core in o:
            v[ev] = o[core]
    return v


def events_v1_to_core_event(v):
    o = {"apiVersion": "v1", "kind": "Event", "metadata": v.get("metadata", {})}
    for core, ev in EVENT_FIELDS:
        if ev in v:
            o[core] = v[ev]
    return o


def _events_view(rt):
    rt.store_gr = ("", "events")
    rt.view = core_event_to_events_v1
    rt.unview = events_v1_to_core_event
    return rt


def builtin_types():
    R = ResourceType
    return [
        R("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"], status=True),
        R("", "v1", "pods", "Pod", short=["po"], categories=ALL, status=True),
        R("", "v1", "services", "Service", short=["svc"], categories=ALL, status=True),
        R("", "v1", "endpoints", "Endpoints", short=["ep"], singular="endpoints"),
        R("", "v1", "secrets", "Secret"),
        R("", "v1", "configmaps", "ConfigMap", short=["cm"]),
        R("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"]),
        R("", "v1", "events", "Event", short=["ev"]),
        R("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=["pvc"], status=True),
        R("", "v1", "persistentvolumes", "PersistentVolume", namespaced=False, short=["pv"], status=True),
        R("", "v1", "nodes", "Node", namespaced=False, short=["no"], status=True),
        R("", "v1", "resourcequotas", "ResourceQuota", short=["quota"], status=True),
        R("", "v1", "limitranges", "LimitRange", short=["limits"]),
        R("apps", "v1", "deployments", "Deployment", short=["deploy"], categories=ALL, status=True, scale=True),
        R("apps", "v1", "statefulsets", "StatefulSet", short=["sts"], categories=ALL, status=True, scale=True),
        R("apps", "v1", "replicasets", "ReplicaSet", short=["rs"], categories=ALL, status=True, scale=True),
        R("apps", "v1", "daemonsets", "DaemonSet", short=["ds"], categories=ALL, status=True),
        R("apps", "v1", "controllerrevisions", "ControllerRevision"),
        R("batch", "v1", "jobs", "Job", categories=ALL, status=True),
        R("batch", "v1", "cronjobs", "CronJob", short=["cj"], categories=ALL, status=True),
        R("coordination.k8s.io", "v1", "leases", "Lease"),
        _events_view(R("events.k8s.io", "v1", "events", "Event", short=["ev"])),
        R("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
          namespaced=False, short=["crd", "crds"], status=True),
        R("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        R("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        R("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
        R("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
        R("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=["netpol"]),
        R("networking.k8s.io", "v1", "ingresses", "Ingress", short=["ing"], status=True),
        R("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=["pdb"], status=True),
        R("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", namespaced=False, short=["pc"]),
        R("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False, short=["sc"]),
        R("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False),
    ]


# create-only review kinds: answered, never stored (kubesim has one all-powerful user)
REVIEWS = {("authorization.k8s.io", "selfsubjectaccessreviews")}


# Strategic-merge keys of the built-in kinds (by field name; 'ports' is decided by content).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "conditions": "type", "imagePullSecrets": "name", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "ownerReferences": "uid", "secrets": "name",
    "containerStatuses": "name", "initContainerStatuses": "name", "readinessGates": "conditionType",
    "resourceClaims": "name", "schedulingGates": "name",
}
# Primitive lists merged as sets in strategic merge.
MERGE_SETS = {"finalizers"}
