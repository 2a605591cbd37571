"""Known fields of the common built-in kinds, so that fieldValidation=Strict rejects
unknown ones (400 'strict decoding error: unknown field "spec.replica"') and Warn/Ignore
drop them, as decoding into the real API types does.

A shape is None (anything: a leaf, or a part not modelled here), a set of names (an object
whose values are not checked further), a dict name -> shape (an object), ("list", shape)
or ("map", shape). Kinds without an entry are not checked."""

ANY = None
META = {"name": ANY, "generateName": ANY, "namespace": ANY, "selfLink": ANY, "uid": ANY, "resourceVersion": ANY,
        "generation": ANY, "creationTimestamp": ANY, "deletionTimestamp": ANY, "deletionGracePeriodSeconds": ANY,
        "labels": ANY, "annotations": ANY, "ownerReferences": ANY, "finalizers": ANY, "managedFields": ANY}
KEY_REF = {"name", "key", "optional"}
ENV_VAR = {"name": ANY, "value": ANY, "valueFrom": {
    "fieldRef": {"apiVersion", "fieldPath"}, "resourceFieldRef": {"containerName", "resource", "divisor"},
    "configMapKeyRef": KEY_REF, "secretKeyRef": KEY_REF}}
CONTAINER = {
    "name": ANY, "image": ANY, "command": ANY, "args": ANY, "workingDir": ANY,
    "ports": ("list", {"name", "hostPort", "containerPort", "protocol", "hostIP"}),
    "envFrom": ("list", {"prefix": ANY, "configMapRef": {"name", "optional"}, "secretRef": {"name", "optional"}}),
    "env": ("list", ENV_VAR), "resources": {"limits", "requests", "claims"}, "resizePolicy": ANY,
    "restartPolicy": ANY,
    "volumeMounts": ("list", {"name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation",
                              "subPathExpr"}),
    "volumeDevices": ANY, "livenessProbe": ANY, "readinessProbe": ANY, "startupProbe": ANY, "lifecycle": ANY,
    "terminationMessagePath": ANY, "terminationMessagePolicy": ANY, "imagePullPolicy": ANY,
    "securityContext": ANY, "stdin": ANY, "stdinOnce": ANY, "tty": ANY}
VOLUME = {"name": ANY, "hostPath": ANY, "emptyDir": {"medium", "sizeLimit"},
          "secret": {"secretName", "items", "defaultMode", "optional"},
          "configMap": {"name", "items", "defaultMode", "optional"},
          "persistentVolumeClaim": {"claimName", "readOnly"}, "projected": ANY, "downwardAPI": ANY,
          "nfs": ANY, "csi": ANY, "ephemeral": ANY, "image": ANY}
POD_SPEC = {
    "volumes": ("list", VOLUME), "initContainers": ("list", CONTAINER), "containers": ("list", CONTAINER),
    "ephemeralContainers": ANY, "restartPolicy": ANY, "terminationGracePeriodSeconds": ANY,
    "activeDeadlineSeconds": ANY, "dnsPolicy": ANY, "nodeSelector": ANY, "serviceAccountName": ANY,
    "serviceAccount": ANY, "automountServiceAccountToken": ANY, "nodeName": ANY, "hostNetwork": ANY,
    "hostPID": ANY, "hostIPC": ANY, "shareProcessNamespace": ANY, "securityContext": ANY,
    "imagePullSecrets": ANY, "hostname": ANY, "subdomain": ANY, "affinity": ANY, "schedulerName": ANY,
    "tolerations": ANY, "hostAliases": ANY, "priorityClassName": ANY, "priority": ANY, "dnsConfig": ANY,
    "readinessGates": ANY, "runtimeClassName": ANY, "enableServiceLinks": ANY, "preemptionPolicy": ANY,
    "overhead": ANY, "topologySpreadConstraints": ANY, "setHostnameAsFQDN": ANY, "os": ANY, "hostUsers": ANY,
    "schedulingGates": ANY, "resourceClaims": ANY, "resources": ANY}
TEMPLATE = {"metadata": META, "spec": POD_SPEC}
SELECTOR = {"matchLabels": ANY, "matchExpressions": ANY}
JOB_SPEC = {"parallelism": ANY, "completions": ANY, "activeDeadlineSeconds": ANY, "podFailurePolicy": ANY,
            "successPolicy": ANY, "backoffLimit": ANY, "backoffLimitPerIndex": ANY, "maxFailedIndexes": ANY,
            "selector": SELECTOR, "manualSelector": ANY, "template": TEMPLATE, "ttlSecondsAfterFinished": ANY,
            "completionMode": ANY, "suspend": ANY, "podReplacementPolicy": ANY, "managedBy": ANY}


def _top(**kw):
    d = {"apiVersion": ANY, "kind": ANY, "metadata": META, "status": ANY}
    d.update(kw)
    return d


KINDS = {
    ("", "pods"): _top(spec=POD_SPEC),
    ("", "namespaces"): _top(spec={"finalizers"}),
    ("", "secrets"): _top(data=ANY, stringData=ANY, type=ANY, immutable=ANY),
    ("", "configmaps"): _top(data=ANY, binaryData=ANY, immutable=ANY),
    ("", "serviceaccounts"): _top(secrets=ANY, imagePullSecrets=ANY, automountServiceAccountToken=ANY),
    ("", "services"): _top(spec={
        "ports": ("list", {"name", "protocol", "appProtocol", "port", "targetPort", "nodePort"}),
        "selector": ANY, "clusterIP": ANY, "clusterIPs": ANY, "type": ANY, "externalIPs": ANY,
        "sessionAffinity": ANY, "loadBalancerIP": ANY, "loadBalancerSourceRanges": ANY, "externalName": ANY,
        "externalTrafficPolicy": ANY, "healthCheckNodePort": ANY, "publishNotReadyAddresses": ANY,
        "sessionAffinityConfig": ANY, "ipFamilies": ANY, "ipFamilyPolicy": ANY,
        "allocateLoadBalancerNodePorts": ANY, "loadBalancerClass": ANY, "internalTrafficPolicy": ANY,
        "trafficDistribution": ANY}),
    ("", "events"): _top(involvedObject=ANY, reason=ANY, message=ANY, source=ANY, firstTimestamp=ANY,
                         lastTimestamp=ANY, count=ANY, type=ANY, eventTime=ANY, series=ANY, action=ANY,
                         related=ANY, reportingComponent=ANY, reportingInstance=ANY),
    ("events.k8s.io", "events"): _top(eventTime=ANY, series=ANY, reportingController=ANY, reportingInstance=ANY,
                                      action=ANY, reason=ANY, regarding=ANY, related=ANY, note=ANY, type=ANY,
                                      deprecatedSource=ANY, deprecatedFirstTimestamp=ANY,
                                      deprecatedLastTimestamp=ANY, deprecatedCount=ANY),
    ("apps", "deployments"): _top(spec={"replicas": ANY, "selector": SELECTOR, "template": TEMPLATE,
                                        "strategy": ANY, "minReadySeconds": ANY, "revisionHistoryLimit": ANY,
                                        "paused": ANY, "progressDeadlineSeconds": ANY}),
    ("apps", "statefulsets"): _top(spec={"replicas": ANY, "selector": SELECTOR, "template": TEMPLATE,
                                         "volumeClaimTemplates": ANY, "serviceName": ANY,
                                         "podManagementPolicy": ANY, "updateStrategy": ANY,
                                         "revisionHistoryLimit": ANY, "minReadySeconds": ANY,
                                         "persistentVolumeClaimRetentionPolicy": ANY, "ordinals": ANY}),
    ("batch", "jobs"): _top(spec=JOB_SPEC),
    ("batch", "cronjobs"): _top(spec={"schedule": ANY, "timeZone": ANY, "startingDeadlineSeconds": ANY,
                                      "concurrencyPolicy": ANY, "suspend": ANY,
                                      "jobTemplate": {"metadata": META, "spec": JOB_SPEC},
                                      "successfulJobsHistoryLimit": ANY, "failedJobsHistoryLimit": ANY}),
    ("coordination.k8s.io", "leases"): _top(spec={"holderIdentity", "leaseDurationSeconds", "acquireTime",
                                                  "renewTime", "leaseTransitions", "strategy",
                                                  "preferredHolder"}),
}


def unknown_fields(gr, obj):
    """Paths of fields the kind does not know; removes them from obj (in place)."""
    shape = KINDS.get(gr)
    if shape is None:
        return []
    out = []
    _walk(obj, shape, "", out)
    return out


def _walk(v, shape, path, out):
    if shape is None:
        return
    if isinstance(shape, tuple):
        kind, sub = shape
        if kind == "list" and isinstance(v, list):
            for i, it in enumerate(v):
                _walk(it, sub, "%s[%d]" % (path, i), out)
        elif kind == "map" and isinstance(v, dict):
            for k, it in v.items():
                _walk(it, sub, path + "." + k if path else k, out)
        return
    if not isinstance(v, dict):
        return
    for k in list(v):
        p = path + "." + k if path else k
        if isinstance(shape, set):
            if k not in shape:
                out.append(p)
                del v[k]
        elif k not in shape:
            out.append(p)
            del v[k]
        else:
            _walk(v[k], shape[k], p, out)
