"""Workload built-ins: apps/v1 Deployment, core/v1 Service and PersistentVolumeClaim,
networking.k8s.io/v1 NetworkPolicy, policy/v1 PodDisruptionBudget.

Like k8s_builtins: struct key order, a managedFields pseudo schema, the defaults kube-apiserver 1.28
applies that matter to a reader of the stored object, and validation with the real messages
(pkg/apis/core/validation, pkg/apis/apps/validation, pkg/apis/policy/validation,
pkg/apis/networking/validation) for the rules that catch real manifest mistakes. Not everything in
PodSpec is validated (affinity, topology spread, volume source details, ...): see README.md.

Registered by k8s_builtins.builtin_resources() through resources().
"""
import ipaddress
import re
import threading
from fractions import Fraction

import wire
from errors import cause
from objects import LABEL_MSG, validate_name

from hooks import Hooks  # noqa: E402


# --- shared helpers ---------------------------------------------------------------------------


def q(v):
    return wire.compact(v)


def invalid(field, value_text, msg):
    return cause("FieldValueInvalid", "Invalid value: %s: %s" % (value_text, msg), field)


def required(field, detail=""):
    return cause("FieldValueRequired", "Required value" + (": " + detail if detail else ""), field)


def not_found(field, value):
    return cause("FieldValueNotFound", "Not found: %s" % q(value), field)


def duplicate(field, value):
    return cause("FieldValueDuplicate", "Duplicate value: %s" % q(value), field)


def forbidden(field, detail):
    return cause("FieldValueForbidden", "Forbidden: " + detail, field)


def not_supported(field, value, supported):
    return cause("FieldValueNotSupported", "Unsupported value: %s: supported values: %s"
                 % (q(value), ", ".join('"%s"' % s for s in supported)), field)


def go_map(m):
    """Go's %#v of a map[string]string."""
    if m is None:
        return "map[string]string(nil)"
    return "map[string]string{" + ", ".join("%s:%s" % (q(k), q(m[k])) for k in sorted(m)) + "}"


_PTR = "0xc000a1b2c0"


def go_selector(sel):
    """%#v of a *metav1.LabelSelector."""
    ml = sel.get("matchLabels")
    exprs = sel.get("matchExpressions")
    ex = "[]v1.LabelSelectorRequirement(nil)" if exprs is None else "[]v1.LabelSelectorRequirement{%s}" % ", ".join(
        "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}" % (
            q(e.get("key", "")), q(e.get("operator", "")),
            "[]string(nil)" if e.get("values") is None else "[]string{%s}" % ", ".join(q(x) for x in e["values"]))
        for e in exprs)
    return "&v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (go_map(ml) if ml is not None else "map[string]string(nil)", ex)   # Go prints pointers as addresses; any fixed one will do


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"
ID_RANGE_MSG = "must be between 0 and 2147483647, inclusive"
NONNEG_MSG = "must be greater than or equal to 0"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_label_errors(value, field):
    errs = []
    if len(value) > 63:
        errs.append(invalid(field, q(value), "must be no more than 63 characters"))
    if not _DNS_LABEL.match(value):
        errs.append(invalid(field, q(value), LABEL_MSG))
    return errs


def port_num_errors(port, field):
    if not _is_int(port) or port < 1 or port > 65535:
        return [invalid(field, str(port), PORT_RANGE_MSG)]
    return []


def port_name_errors(name, field):
    """validation.IsValidPortName."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.match(r"^[-a-z0-9]+$", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return [invalid(field, q(name), m) for m in errs]


def port_num_or_name_errors(port, field):
    if isinstance(port, str):
        return port_name_errors(port, field)
    return port_num_errors(port, field)


def nonneg(value, field):
    if _is_int(value) and value < 0:
        return [invalid(field, str(value), NONNEG_MSG)]
    return []


from objects import _DNS_SUBDOMAIN, _LABEL_VALUE, _QNAME  # noqa: E402  (one copy of the name patterns)
QNAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def label_key_errors(k, field):
    """validation.IsQualifiedName."""
    errs = []
    prefix, _, name = k.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        errs.append(invalid(field, q(k), "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                            "character (e.g. 'example.com', regex used for validation is "
                            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    if not name:
        errs.append(invalid(field, q(k), "name part must be non-empty"))
    elif len(name) > 63:
        errs.append(invalid(field, q(k), "name part must be no more than 63 characters"))
    if name and not _QNAME.match(name):
        errs.append(invalid(field, q(k), QNAME_MSG))
    return errs


def labels_errors(labels, field):
    """unversionedvalidation.ValidateLabels (key errors, value errors)."""
    errs = []
    if not isinstance(labels, dict):
        return errs
    for k in sorted(labels):
        v = labels[k]
        errs += label_key_errors(k, field)
        v = "" if v is None else str(v)
        if len(v) > 63:
            errs.append(invalid(field, q(v), "must be no more than 63 characters"))
        if not _LABEL_VALUE.match(v):
            errs.append(invalid(field, q(v), LABEL_VALUE_MSG))
    return errs


def label_selector_errors(sel, field):
    """unversionedvalidation.ValidateLabelSelector."""
    errs = []
    if not isinstance(sel, dict):
        return errs
    for i, e in enumerate(sel.get("matchExpressions") or []):
        p = "%s.matchExpressions[%d]" % (field, i)
        op = e.get("operator")
        vals = e.get("values") or []
        if op in ("In", "NotIn"):
            if not vals:
                errs.append(required(p + ".values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if vals:
                errs.append(forbidden(p + ".values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            errs.append(invalid(p + ".operator", q(op or ""), "not a valid selector operator"))
        errs += label_key_errors(e.get("key") or "", p + ".key")
    errs += labels_errors(sel.get("matchLabels") or {}, field + ".matchLabels")
    return errs


def selector_matches(sel, labels):
    """metav1.LabelSelectorAsSelector(sel).Matches(labels); None selects nothing."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        has = k in labels
        if op == "In" and not (has and labels[k] in vals):
            return False
        if op == "NotIn" and has and labels[k] in vals:
            return False
        if op == "Exists" and not has:
            return False
        if op == "DoesNotExist" and has:
            return False
    return True


def selector_empty(sel):
    return sel is not None and not (sel.get("matchLabels") or sel.get("matchExpressions"))


# --- quantities -----------------------------------------------------------------------------------

_QTY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_SUFFIX = {"": 1, "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "k": 10**3, "M": 10**6,
           "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
           "Pi": 2**50, "Ei": 2**60}
QTY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def parse_quantity(v):
    """Value of a resource.Quantity (int or string), or None when it does not parse."""
    if _is_int(v) or isinstance(v, float):
        return Fraction(v)
    if not isinstance(v, str):
        return None
    m = _QTY.match(v)
    if not m:
        return None
    try:
        num = Fraction(m.group(1))
    except (ValueError, ZeroDivisionError):
        return None
    suf = m.group(2)
    if suf in _SUFFIX:
        return num * _SUFFIX[suf]
    em = re.match(r"^[eE]([-+]?[0-9]+)$", suf)
    if em:
        return num * Fraction(10) ** int(em.group(1))
    return None


def _quantity_maps(res):
    for key in ("limits", "requests"):
        m = (res or {}).get(key)
        if isinstance(m, dict):
            yield m


def check_quantities(obj_resources_list, r):
    from k8s_builtins import decode_error
    for res in obj_resources_list:
        for m in _quantity_maps(res):
            for v in m.values():
                if parse_quantity(v) is None:
                    raise decode_error(r, QTY_MSG)


def qty_text(v):
    return str(v) if not isinstance(v, str) else v


# --- pod template -----------------------------------------------------------------------------

PROBE = [("exec", [("command", None)]),
         ("httpGet", [("path", None), ("port", None), ("host", None), ("scheme", None), ("httpHeaders", None)]),
         ("tcpSocket", [("port", None), ("host", None)]), ("grpc", [("port", None), ("service", None)]),
         ("initialDelaySeconds", None), ("timeoutSeconds", None), ("periodSeconds", None), ("successThreshold", None),
         ("failureThreshold", None), ("terminationGracePeriodSeconds", None)]
SEC_CTX = [("capabilities", [("add", None), ("drop", None)]), ("privileged", None), ("seLinuxOptions", None),
           ("windowsOptions", None), ("runAsUser", None), ("runAsGroup", None), ("runAsNonRoot", None),
           ("readOnlyRootFilesystem", None), ("allowPrivilegeEscalation", None), ("procMount", None),
           ("seccompProfile", [("type", None), ("localhostProfile", None)])]
CONTAINER = ("list", [
    ("name", None), ("image", None), ("command", None), ("args", None), ("workingDir", None),
    ("ports", ("list", [("name", None), ("hostPort", None), ("containerPort", None), ("protocol", None), ("hostIP", None)])),
    ("envFrom", None),
    ("env", ("list", [("name", None), ("value", None), ("valueFrom", [
        ("fieldRef", [("apiVersion", None), ("fieldPath", None)]), ("resourceFieldRef", None),
        ("configMapKeyRef", None), ("secretKeyRef", None)])])),
    ("resources", [("limits", None), ("requests", None), ("claims", None)]), ("resizePolicy", None),
    ("restartPolicy", None),
    ("volumeMounts", ("list", [("name", None), ("readOnly", None), ("mountPath", None), ("subPath", None),
                               ("mountPropagation", None), ("subPathExpr", None)])),
    ("volumeDevices", None), ("livenessProbe", PROBE), ("readinessProbe", PROBE), ("startupProbe", PROBE),
    ("lifecycle", None), ("terminationMessagePath", None), ("terminationMessagePolicy", None),
    ("imagePullPolicy", None), ("securityContext", SEC_CTX), ("stdin", None), ("stdinOnce", None), ("tty", None)])
VOLUME = ("list", [("name", None), ("hostPath", None), ("emptyDir", None), ("gcePersistentDisk", None),
                   ("awsElasticBlockStore", None), ("gitRepo", None),
                   ("secret", [("secretName", None), ("items", None), ("defaultMode", None), ("optional", None)]),
                   ("nfs", None), ("iscsi", None), ("glusterfs", None),
                   ("persistentVolumeClaim", [("claimName", None), ("readOnly", None)]),
                   ("rbd", None), ("flexVolume", None), ("cinder", None), ("cephfs", None), ("flocker", None),
                   ("downwardAPI", None), ("fc", None), ("azureFile", None),
                   ("configMap", [("name", None), ("items", None), ("defaultMode", None), ("optional", None)]),
                   ("vsphereVolume", None), ("quobyte", None), ("azureDisk", None), ("photonPersistentDisk", None),
                   ("projected", [("sources", None), ("defaultMode", None)]), ("portworxVolume", None),
                   ("scaleIO", None), ("storageos", None), ("csi", None), ("ephemeral", None)])
POD_SPEC = [("volumes", VOLUME), ("initContainers", CONTAINER), ("containers", CONTAINER),
            ("ephemeralContainers", None), ("restartPolicy", None), ("terminationGracePeriodSeconds", None),
            ("activeDeadlineSeconds", None), ("dnsPolicy", None), ("nodeSelector", None),
            ("serviceAccountName", None), ("serviceAccount", None), ("automountServiceAccountToken", None),
            ("nodeName", None), ("hostNetwork", None), ("hostPID", None), ("hostIPC", None),
            ("shareProcessNamespace", None),
            ("securityContext", [("seLinuxOptions", None), ("windowsOptions", None), ("runAsUser", None),
                                 ("runAsGroup", None), ("runAsNonRoot", None), ("supplementalGroups", None),
                                 ("fsGroup", None), ("sysctls", None), ("fsGroupChangePolicy", None),
                                 ("seccompProfile", [("type", None), ("localhostProfile", None)])]),
            ("imagePullSecrets", None), ("hostname", None), ("subdomain", None), ("affinity", None),
            ("schedulerName", None), ("tolerations", None), ("hostAliases", None), ("priorityClassName", None),
            ("priority", None), ("dnsConfig", None), ("readinessGates", None), ("runtimeClassName", None),
            ("enableServiceLinks", None), ("preemptionPolicy", None), ("overhead", None),
            ("topologySpreadConstraints", None), ("setHostnameAsFQDN", None), ("os", None), ("hostUsers", None),
            ("schedulingGates", None), ("resourceClaims", None)]
TEMPLATE_META = [("name", None), ("generateName", None), ("namespace", None), ("uid", None), ("resourceVersion", None),
                 ("creationTimestamp", None), ("labels", None), ("annotations", None)]
POD_TEMPLATE = [("metadata", TEMPLATE_META), ("spec", POD_SPEC)]
LABEL_SELECTOR = [("matchLabels", None), ("matchExpressions", ("list", [("key", None), ("operator", None), ("values", None)]))]

# managedFields pseudo schema (structured-merge-diff list/map types of the real OpenAPI)
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
ATOMIC = {"type": "object", "x-kubernetes-map-type": "atomic"}
ATOMIC_LIST = {"type": "array"}
SELECTOR_SCHEMA = {"type": "object", "x-kubernetes-map-type": "atomic"}


def _list_map(keys, items=None):
    s = {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}
    if items:
        s["items"] = items
    return s


CONTAINER_SCHEMA = {"type": "object", "properties": {
    "ports": _list_map(["containerPort", "protocol"]),
    "env": _list_map(["name"]),
    "volumeMounts": _list_map(["mountPath"]),
    "volumeDevices": _list_map(["devicePath"]),
    "resources": {"type": "object", "properties": {"limits": LABELS, "requests": LABELS}},
    "args": ATOMIC_LIST, "command": ATOMIC_LIST, "envFrom": ATOMIC_LIST,
    "securityContext": {"type": "object", "properties": {"capabilities": {"type": "object", "properties": {
        "add": ATOMIC_LIST, "drop": ATOMIC_LIST}}}}}}
POD_SPEC_SCHEMA = {"type": "object", "properties": {
    "containers": _list_map(["name"], CONTAINER_SCHEMA),
    "initContainers": _list_map(["name"], CONTAINER_SCHEMA),
    "volumes": _list_map(["name"]),
    "nodeSelector": ATOMIC, "tolerations": ATOMIC_LIST, "imagePullSecrets": _list_map(["name"]),
    "topologySpreadConstraints": _list_map(["topologyKey", "whenUnsatisfiable"]),
    "securityContext": {"type": "object", "properties": {"supplementalGroups": ATOMIC_LIST, "sysctls": ATOMIC_LIST}}}}
TEMPLATE_SCHEMA = {"type": "object", "properties": {
    "metadata": {"type": "object", "properties": {"labels": LABELS, "annotations": LABELS}},
    "spec": POD_SPEC_SCHEMA}}


def _image_pull_policy(image):
    tag = ""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        tag = last.rsplit(":", 1)[1]
    if "@" in image:
        return "IfNotPresent"
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(p):
    if not isinstance(p, dict):
        return
    if isinstance(p.get("httpGet"), dict):
        p["httpGet"].setdefault("path", "/")
        p["httpGet"].setdefault("scheme", "HTTP")
    p.setdefault("timeoutSeconds", 1)
    p.setdefault("periodSeconds", 10)
    p.setdefault("successThreshold", 1)
    p.setdefault("failureThreshold", 3)


def _default_container(c):
    if not isinstance(c, dict):
        return
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
    for e in c.get("env") or []:
        fr = ((e or {}).get("valueFrom") or {}).get("fieldRef") if isinstance(e, dict) else None
        if isinstance(fr, dict):
            fr.setdefault("apiVersion", "v1")
    c.setdefault("resources", {})
    if isinstance(c.get("resources"), dict):
        res = c["resources"]
        # limits without requests: requests default to the limits (SetDefaults_ResourceRequirements-ish)
        if isinstance(res.get("limits"), dict):
            req = dict(res.get("requests") or {})
            for k, v in res["limits"].items():
                req.setdefault(k, v)
            res["requests"] = req
    for k in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(k))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if isinstance(c.get("image"), str):
        c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))


def _default_volume(v):
    if not isinstance(v, dict):
        return
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for k in ("configMap", "secret", "downwardAPI", "projected"):
        if isinstance(v.get(k), dict):
            v[k].setdefault("defaultMode", 420)


def default_pod_template(tpl):
    if not isinstance(tpl, dict):
        return
    meta = tpl.setdefault("metadata", {})
    if isinstance(meta, dict):
        meta.setdefault("creationTimestamp", None)
    spec = tpl.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for v in spec.get("volumes") or []:
        _default_volume(v)
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _default_container(c)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _local_descending_path(path, field):
    errs = []
    if path.startswith("/"):
        errs.append(invalid(field, q(path), "must be a relative path"))
    if ".." in path.split("/"):
        errs.append(invalid(field, q(path), "must not contain '..'"))
    return errs


def _security_context_struct(sc):
    """&core.SecurityContext{...} as %#v prints it (pointers as a fixed address)."""
    def ptr(key, typ):
        return "(%s)(%s)" % (typ, _PTR if sc.get(key) is not None else "nil")
    return ("&core.SecurityContext{Capabilities:%s, Privileged:%s, SELinuxOptions:%s, WindowsOptions:%s, "
            "RunAsUser:%s, RunAsGroup:%s, RunAsNonRoot:%s, ReadOnlyRootFilesystem:%s, AllowPrivilegeEscalation:%s, "
            "ProcMount:%s, SeccompProfile:%s}" % (
                ptr("capabilities", "*core.Capabilities"), ptr("privileged", "*bool"),
                ptr("seLinuxOptions", "*core.SELinuxOptions"), ptr("windowsOptions", "*core.WindowsSecurityContextOptions"),
                ptr("runAsUser", "*int64"), ptr("runAsGroup", "*int64"), ptr("runAsNonRoot", "*bool"),
                ptr("readOnlyRootFilesystem", "*bool"), ptr("allowPrivilegeEscalation", "*bool"),
                ptr("procMount", "*core.ProcMountType"), ptr("seccompProfile", "*core.SeccompProfile")))


def _id_errors(sc, key, field):
    v = sc.get(key)
    if _is_int(v) and (v < 0 or v > 2147483647):
        return [invalid(field, str(v), ID_RANGE_MSG)]
    return []


def _seccomp_errors(sp, field):
    if not isinstance(sp, dict):
        return []
    errs = []
    t = sp.get("type")
    if not t:
        errs.append(required(field + ".type"))
    elif t not in ("Localhost", "RuntimeDefault", "Unconfined"):
        errs.append(not_supported(field + ".type", t, ["Localhost", "RuntimeDefault", "Unconfined"]))
    if t == "Localhost":
        if sp.get("localhostProfile") is None:
            errs.append(required(field + ".localhostProfile", "must be set when seccomp type is Localhost"))
        else:
            errs += _local_descending_path(sp["localhostProfile"], field + ".localhostProfile")
    elif sp.get("localhostProfile") is not None:
        errs.append(invalid(field + ".localhostProfile", "&core.SeccompProfile{Type:%s, LocalhostProfile:(*string)(%s)}"
                            % (q(t or ""), _PTR), "can only be set when seccomp type is Localhost"))
    return errs


def _container_security_context_errors(sc, field):
    if not isinstance(sc, dict):
        return []
    errs = []
    errs += _id_errors(sc, "runAsUser", field + ".runAsUser")
    errs += _id_errors(sc, "runAsGroup", field + ".runAsGroup")
    if sc.get("procMount") is not None and sc["procMount"] not in ("Default", "Unmasked"):
        errs.append(not_supported(field + ".procMount", sc["procMount"], ["Default", "Unmasked"]))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(invalid(field, _security_context_struct(sc), "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
        for cap in ((sc.get("capabilities") or {}).get("add") or []):
            if cap == "CAP_SYS_ADMIN":
                errs.append(invalid(field, _security_context_struct(sc), "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
    return errs


_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
ENV_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
                "and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used "
                "for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')")
_ENV_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
                    "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                    "status.podIPs"]


def _env_errors(env, field):
    errs = []
    for i, ev in enumerate(env or []):
        p = "%s[%d]" % (field, i)
        if not isinstance(ev, dict):
            continue
        name = ev.get("name") or ""
        if not name:
            errs.append(required(p + ".name"))
        else:
            if not _ENV_NAME.match(name):
                errs.append(invalid(p + ".name", q(name), ENV_NAME_MSG))
            if name in (".", "..") or name.startswith(".."):
                pass
        vf = ev.get("valueFrom")
        if isinstance(vf, dict):
            n = sum(1 for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if vf.get(k) is not None)
            fr = vf.get("fieldRef")
            if isinstance(fr, dict):
                fp = fr.get("fieldPath") or ""
                if not fp:
                    errs.append(required(p + ".valueFrom.fieldRef.fieldPath"))
                else:
                    base = fp.split("[", 1)[0]
                    if base not in _ENV_FIELD_PATHS:
                        errs.append(not_supported(p + ".valueFrom.fieldRef.fieldPath", fp,
                                                  [x for x in _ENV_FIELD_PATHS if x not in ("metadata.annotations", "metadata.labels")]))
            for kind in ("configMapKeyRef", "secretKeyRef"):
                ref = vf.get(kind)
                if isinstance(ref, dict) and not ref.get("key"):
                    errs.append(required(p + ".valueFrom.%s.key" % kind))
            if n == 0:
                errs.append(invalid(p + ".valueFrom", '""', "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
            elif ev.get("value"):
                errs.append(invalid(p + ".valueFrom", '""', "may not be specified when `value` is not empty"))
            elif n > 1:
                errs.append(invalid(p + ".valueFrom", '""', "may not have more than one field specified at a time"))
    return errs


_STD_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def _resource_errors(res, field):
    errs = []
    if not isinstance(res, dict):
        return errs
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    for key, path in (("limits", field + ".limits"), ("requests", field + ".requests")):
        for name, v in sorted((res.get(key) or {}).items()):
            val = parse_quantity(v)
            if "/" not in name and not name.startswith("hugepages-") and name not in _STD_RESOURCES:
                errs.append(invalid("%s[%s]" % (path, name), q(name), "must be a standard resource for containers"))
            if val is not None and val < 0:
                errs.append(invalid("%s[%s]" % (path, name), q(qty_text(v)), NONNEG_MSG))
    for name, v in sorted(requests.items()):
        if name in limits:
            rv, lv = parse_quantity(v), parse_quantity(limits[name])
            if rv is None or lv is None:
                continue
            overcommit = name in _STD_RESOURCES or name.startswith("requests.")
            if rv != lv and not overcommit:
                errs.append(invalid(field + ".requests", q(qty_text(v)), "must be equal to %s limit of %s" % (name, qty_text(limits[name]))))
            elif rv > lv:
                errs.append(invalid(field + ".requests", q(qty_text(v)), "must be less than or equal to %s limit of %s" % (name, qty_text(limits[name]))))
    return errs


def _probe_errors(p, field, kind):
    if not isinstance(p, dict):
        return []
    errs = []
    handlers = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if p.get(k) is not None]
    for i, h in enumerate(handlers):
        if i > 0:
            errs.append(forbidden(field + "." + h, "may not specify more than 1 handler type"))
            continue
        hv = p[h] or {}
        if h == "exec" and not hv.get("command"):
            errs.append(required(field + ".exec.command"))
        if h == "httpGet":
            if not hv.get("path"):
                errs.append(required(field + ".httpGet.path"))
            errs += port_num_or_name_errors(hv.get("port", 0), field + ".httpGet.port")
            if hv.get("scheme") not in ("HTTP", "HTTPS"):
                errs.append(not_supported(field + ".httpGet.scheme", hv.get("scheme") or "", ["HTTP", "HTTPS"]))
        if h == "tcpSocket":
            errs += port_num_or_name_errors(hv.get("port", 0), field + ".tcpSocket.port")
        if h == "grpc":
            errs += port_num_errors(hv.get("port", 0), field + ".grpc.port")
    if not handlers:
        errs.append(required(field, "must specify a handler type"))
    for k in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        errs += nonneg(p.get(k), field + "." + k)
    tg = p.get("terminationGracePeriodSeconds")
    if _is_int(tg) and tg <= 0:
        errs.append(invalid(field + ".terminationGracePeriodSeconds", str(tg), "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe") and p.get("successThreshold", 1) != 1:
        errs.append(invalid(field + ".successThreshold", str(p.get("successThreshold")), "must be 1"))
    if kind == "readinessProbe" and tg is not None:
        errs.append(invalid(field + ".terminationGracePeriodSeconds", _PTR, "must not be set for readinessProbes"))
    return errs


def _container_common_errors(c, volumes, field):
    errs = []
    name = c.get("name") or ""
    if not name:
        errs.append(required(field + ".name"))
    else:
        errs += dns_label_errors(name, field + ".name")
    if not c.get("image"):
        errs.append(required(field + ".image"))
    tmp = c.get("terminationMessagePolicy")
    if tmp not in ("File", "FallbackToLogsOnError"):
        if not tmp:
            errs.append(required(field + ".terminationMessagePolicy", "must be 'File' or 'FallbackToLogsOnError'"))
        else:
            errs.append(invalid(field + ".terminationMessagePolicy", q(tmp), "must be 'File' or 'FallbackToLogsOnError'"))
    names = set()
    for i, p in enumerate(c.get("ports") or []):
        pp = "%s.ports[%d]" % (field, i)
        if not isinstance(p, dict):
            continue
        pn = p.get("name") or ""
        if pn:
            pe = port_name_errors(pn, pp + ".name")
            if pe:
                errs += pe
            elif pn in names:
                errs.append(duplicate(pp + ".name", pn))
            else:
                names.add(pn)
        cp = p.get("containerPort", 0)
        if cp == 0:
            errs.append(required(pp + ".containerPort"))
        else:
            errs += port_num_errors(cp, pp + ".containerPort")
        if p.get("hostPort"):
            errs += port_num_errors(p["hostPort"], pp + ".hostPort")
        proto = p.get("protocol")
        if not proto:
            errs.append(required(pp + ".protocol"))
        elif proto not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(pp + ".protocol", proto, ["SCTP", "TCP", "UDP"]))
    errs += _env_errors(c.get("env"), field + ".env")
    mountpoints = set()
    for i, m in enumerate(c.get("volumeMounts") or []):
        mp = "%s.volumeMounts[%d]" % (field, i)
        if not isinstance(m, dict):
            continue
        mn = m.get("name") or ""
        if not mn:
            errs.append(required(mp + ".name"))
        if mn not in volumes:
            errs.append(not_found(mp + ".name", mn))
        path = m.get("mountPath") or ""
        if not path:
            errs.append(required(mp + ".mountPath"))
        if path in mountpoints:
            errs.append(invalid(mp + ".mountPath", q(path), "must be unique"))
        mountpoints.add(path)
        # the real code passes the list's path (no index) for subPath / subPathExpr
        if m.get("subPath"):
            errs += _local_descending_path(m["subPath"], field + ".volumeMounts.subPath")
        if m.get("subPathExpr"):
            if m.get("subPath"):
                errs.append(invalid(mp + ".subPathExpr", q(m["subPathExpr"]), "subPathExpr and subPath are mutually exclusive"))
            errs += _local_descending_path(m["subPathExpr"], field + ".volumeMounts.subPathExpr")
        prop = m.get("mountPropagation")
        if prop is not None and prop not in ("Bidirectional", "HostToContainer", "None"):
            errs.append(not_supported(mp + ".mountPropagation", prop, ["Bidirectional", "HostToContainer", "None"]))
    ipp = c.get("imagePullPolicy")
    if not ipp:
        errs.append(required(field + ".imagePullPolicy"))
    elif ipp not in ("Always", "IfNotPresent", "Never"):
        errs.append(not_supported(field + ".imagePullPolicy", ipp, ["Always", "IfNotPresent", "Never"]))
    errs += _resource_errors(c.get("resources"), field + ".resources")
    errs += _container_security_context_errors(c.get("securityContext"), field + ".securityContext")
    return errs


def _containers_errors(containers, volumes, field):
    if not containers:
        return [required(field)]
    errs = []
    names = set()
    host_ports = set()
    for i, c in enumerate(containers):
        p = "%s[%d]" % (field, i)
        if not isinstance(c, dict):
            continue
        errs += _container_common_errors(c, volumes, p)
        n = c.get("name") or ""
        if n in names:
            errs.append(duplicate(p + ".name", n))
        else:
            names.add(n)
        errs += _probe_errors(c.get("livenessProbe"), p + ".livenessProbe", "livenessProbe")
        errs += _probe_errors(c.get("readinessProbe"), p + ".readinessProbe", "readinessProbe")
        errs += _probe_errors(c.get("startupProbe"), p + ".startupProbe", "startupProbe")
        if c.get("restartPolicy") is not None:
            errs.append(forbidden(p + ".restartPolicy", "may not be set for non-init containers"))
    for i, c in enumerate(containers):
        for j, port in enumerate((c or {}).get("ports") or []):
            hp = (port or {}).get("hostPort")
            if hp:
                key = "%s/%s/%d" % (port.get("protocol", "TCP"), port.get("hostIP", ""), hp)
                if key in host_ports:
                    errs.append(duplicate("%s[%d].ports[%d].hostPort" % (field, i, j), key))
                host_ports.add(key)
    return errs


def _volumes_errors(volumes, field):
    errs = []
    names = {}
    for i, v in enumerate(volumes or []):
        p = "%s[%d]" % (field, i)
        if not isinstance(v, dict):
            continue
        name = v.get("name") or ""
        sources = [k for k in v if k != "name" and v[k] is not None]
        verrs = []
        if not sources:
            verrs.append(required(p, "must specify a volume type"))
        for k in sources[1:]:
            verrs.append(forbidden("%s.%s" % (p, k), "may not specify more than 1 volume type"))
        if "persistentVolumeClaim" in sources and not (v["persistentVolumeClaim"] or {}).get("claimName"):
            verrs.append(required(p + ".persistentVolumeClaim.claimName"))
        if "configMap" in sources and not (v["configMap"] or {}).get("name"):
            verrs.append(required(p + ".configMap.name"))
        if "secret" in sources and not (v["secret"] or {}).get("secretName"):
            verrs.append(required(p + ".secret.secretName"))
        errs += verrs
        if not name:
            errs.append(required(p + ".name"))
        else:
            errs += dns_label_errors(name, p + ".name")
        if name in names:
            errs.append(duplicate(p + ".name", name))
        if not verrs:
            names[name] = v
    return errs, names


def pod_template_errors(tpl, field):
    """ValidatePodTemplateSpec (the parts this server knows)."""
    errs = []
    if not isinstance(tpl, dict):
        return [required(field)]
    meta = tpl.get("metadata") or {}
    errs += labels_errors(meta.get("labels") or {}, field + ".labels")
    spec = tpl.get("spec") or {}
    sp = field + ".spec"
    verrs, vols = _volumes_errors(spec.get("volumes"), sp + ".volumes")
    errs += verrs
    errs += _containers_errors(spec.get("containers") or [], vols, sp + ".containers")
    init = spec.get("initContainers") or []
    if init:
        errs += _containers_errors(init, vols, sp + ".initContainers")
        others = set((c or {}).get("name") for c in spec.get("containers") or [])
        for i, c in enumerate(init):
            if (c or {}).get("name") in others:
                errs.append(duplicate("%s.initContainers[%d].name" % (sp, i), c.get("name")))
    rp = spec.get("restartPolicy")
    if rp not in ("Always", "OnFailure", "Never"):
        errs.append(required(sp + ".restartPolicy") if not rp else not_supported(sp + ".restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    dp = spec.get("dnsPolicy")
    if dp not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.append(required(sp + ".dnsPolicy") if not dp else not_supported(sp + ".dnsPolicy", dp, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
    errs += labels_errors(spec.get("nodeSelector") or {}, sp + ".nodeSelector")
    psc = spec.get("securityContext") or {}
    if isinstance(psc, dict):
        errs += _id_errors(psc, "fsGroup", sp + ".securityContext.fsGroup")
        errs += _id_errors(psc, "runAsUser", sp + ".securityContext.runAsUser")
        errs += _id_errors(psc, "runAsGroup", sp + ".securityContext.runAsGroup")
        for i, g in enumerate(psc.get("supplementalGroups") or []):
            errs += _id_errors({"g": g}, "g", "%s.securityContext.supplementalGroups[%d]" % (sp, i))
        fcp = psc.get("fsGroupChangePolicy")
        if fcp is not None and fcp not in ("Always", "OnRootMismatch"):
            errs.append(not_supported(sp + ".securityContext.fsGroupChangePolicy", fcp, ["Always", "OnRootMismatch"]))
    san = spec.get("serviceAccountName")
    if san:
        errs += validate_name(san, sp + ".serviceAccountName")
    tgp = spec.get("terminationGracePeriodSeconds")
    if _is_int(tgp) and tgp < 0:
        errs.append(invalid(sp + ".terminationGracePeriodSeconds", str(tgp), NONNEG_MSG))
    # seccomp profiles (validateSeccompAnnotationsAndFields): pod first, then every container
    errs += _seccomp_errors(psc.get("seccompProfile") if isinstance(psc, dict) else None, sp + ".securityContext.seccompProfile")
    for kind in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(kind) or []):
            sc = (c or {}).get("securityContext")
            if isinstance(sc, dict):
                errs += _seccomp_errors(sc.get("seccompProfile"), "%s.%s[%d].securityContext.seccompProfile" % (sp, kind, i))
    if spec.get("ephemeralContainers"):
        errs.append(forbidden(sp + ".ephemeralContainers", "ephemeral containers not allowed in pod template"))
    return errs


def pod_template_resources(tpl):
    spec = (tpl or {}).get("spec") or {}
    return [(c or {}).get("resources") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]


# --- Deployment -------------------------------------------------------------------------------

def _int_or_percent_errors(v, field):
    errs = []
    if isinstance(v, str):
        if not re.match(r"^[0-9]+%$", v):
            errs.append(invalid(field, q(v), "a valid percent string must be a numeric string followed by an ending '%' "
                                             "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
        elif int(v[:-1]) > 100:
            errs.append(invalid(field, q(v), "must not be greater than 100%"))
    elif _is_int(v) and v < 0:
        errs.append(invalid(field, str(v), NONNEG_MSG))
    return errs


def _int_or_percent_value(v):
    if isinstance(v, str):
        return int(v[:-1]) if re.match(r"^[0-9]+%$", v) else 0
    return v if _is_int(v) else 0


class DeploymentHooks(Hooks):
    zero = {"spec": {"selector": None, "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
                     "strategy": {}}, "status": {}}

    def decode(self, obj, r):
        check_quantities(pod_template_resources((obj.get("spec") or {}).get("template")), r)

    def _defaults(self, obj):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        st = spec.setdefault("strategy", {})
        if isinstance(st, dict):
            st.setdefault("type", "RollingUpdate")
            if st.get("type") == "RollingUpdate":
                ru = st.setdefault("rollingUpdate", {})
                if isinstance(ru, dict):
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        default_pod_template(spec.setdefault("template", {}))

    def prepare_create(self, obj, r):
        self._defaults(obj)
        obj["status"] = {}

    def prepare_update(self, new, old, r):
        self._defaults(new)
        new["status"] = old.get("status", {})

    def validate(self, obj, old, r):
        spec = obj.get("spec") or {}
        f = "spec"
        errs = nonneg(spec.get("replicas"), f + ".replicas")
        sel = spec.get("selector")
        if sel is None:
            errs.append(required(f + ".selector"))
        else:
            errs += label_selector_errors(sel, f + ".selector")
            if selector_empty(sel):
                errs.append(invalid(f + ".selector", go_selector(sel),
                                    "empty selector is invalid for deployment"))
        tpl = spec.get("template")
        tf = f + ".template"
        if not selector_empty(sel):
            labels = ((tpl or {}).get("metadata") or {}).get("labels")
            if not selector_matches(sel, labels):
                errs.append(invalid(tf + ".metadata.labels", go_map(labels), "`selector` does not match template `labels`"))
        errs += pod_template_errors(tpl, tf)
        rp = ((tpl or {}).get("spec") or {}).get("restartPolicy")
        if rp != "Always":
            errs.append(not_supported(tf + ".spec.restartPolicy", rp or "", ["Always"]))
        if ((tpl or {}).get("spec") or {}).get("activeDeadlineSeconds") is not None:
            errs.append(forbidden(tf + ".spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"))
        st = spec.get("strategy") or {}
        t = st.get("type")
        if t == "Recreate":
            if st.get("rollingUpdate") is not None:
                errs.append(forbidden(f + ".strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
        elif t == "RollingUpdate":
            ru = st.get("rollingUpdate") or {}
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            errs += _int_or_percent_errors(mu, f + ".strategy.rollingUpdate.maxUnavailable")
            errs += _int_or_percent_errors(ms, f + ".strategy.rollingUpdate.maxSurge")
            if _int_or_percent_value(mu) == 0 and _int_or_percent_value(ms) == 0:
                errs.append(invalid(f + ".strategy.rollingUpdate.maxUnavailable", q(mu) if isinstance(mu, str) else str(mu or 0),
                                    "may not be 0 when `maxSurge` is 0"))
        else:
            errs.append(not_supported(f + ".strategy", "apps.DeploymentStrategy{Type:%s}" % q(t or ""), ["Recreate", "RollingUpdate"]))
        mrs = spec.get("minReadySeconds", 0)
        errs += nonneg(mrs, f + ".minReadySeconds")
        errs += nonneg(spec.get("revisionHistoryLimit"), f + ".revisionHistoryLimit")
        pds = spec.get("progressDeadlineSeconds")
        if _is_int(pds):
            errs += nonneg(pds, f + ".progressDeadlineSeconds")
            if _is_int(mrs) and pds <= mrs:
                errs.append(invalid(f + ".progressDeadlineSeconds", str(pds), "must be greater than minReadySeconds"))
        if old is not None and (old.get("spec") or {}).get("selector") != sel:
            errs.append(invalid(f + ".selector", go_selector(sel) if sel is not None else "(*v1.LabelSelector)(nil)", "field is immutable"))
        return errs


# --- Service ----------------------------------------------------------------------------------

class ServiceHooks(Hooks):
    zero = {"spec": {}, "status": {"loadBalancer": {}}}

    def __init__(self):
        self._lock = threading.Lock()
        self._next = 1

    def _allocate(self):
        with self._lock:
            n = self._next
            self._next += 1
        return str(ipaddress.IPv4Address("10.96.0.0") + 1 + (n % 65000))

    def _defaults(self, obj):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        for p in spec.get("ports") or []:
            if not isinstance(p, dict):
                continue
            p.setdefault("protocol", "TCP")
            if p.get("targetPort") in (None, 0, ""):
                p["targetPort"] = p.get("port")
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")

    def prepare_create(self, obj, r):
        self._defaults(obj)
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("type") != "ExternalName":
            if not spec.get("clusterIP"):
                spec["clusterIP"] = self._allocate()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            if spec["clusterIP"] != "None":
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
        obj["status"] = {"loadBalancer": {}}

    def prepare_update(self, new, old, r):
        self._defaults(new)
        spec, ospec = new.get("spec") or {}, old.get("spec") or {}
        for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if k not in spec and k in ospec:
                spec[k] = ospec[k]
        new["status"] = old.get("status", {"loadBalancer": {}})

    def validate(self, obj, old, r):
        spec = obj.get("spec") or {}
        f = "spec"
        errs = []
        t = spec.get("type")
        headless = spec.get("clusterIP") == "None"
        if t not in ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"):
            errs.append(not_supported(f + ".type", t or "", ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
        if t == "ExternalName":
            if not spec.get("externalName"):
                errs.append(required(f + ".externalName"))
        ports = spec.get("ports") or []
        if not ports and not headless and t != "ExternalName":
            errs.append(required(f + ".ports"))
        names = set()
        for i, p in enumerate(ports):
            pp = "%s.ports[%d]" % (f, i)
            if not isinstance(p, dict):
                continue
            name = p.get("name") or ""
            if len(ports) > 1 and not name:
                errs.append(required(pp + ".name"))
            elif name:
                errs += dns_label_errors(name, pp + ".name")
                if name in names:
                    errs.append(duplicate(pp + ".name", name))
                else:
                    names.add(name)
            errs += port_num_errors(p.get("port", 0), pp + ".port")
            proto = p.get("protocol")
            if not proto:
                errs.append(required(pp + ".protocol"))
            elif proto not in ("SCTP", "TCP", "UDP"):
                errs.append(not_supported(pp + ".protocol", proto, ["SCTP", "TCP", "UDP"]))
            errs += port_num_or_name_errors(p.get("targetPort", 0), pp + ".targetPort")
            if p.get("nodePort") and t not in ("NodePort", "LoadBalancer"):
                errs.append(forbidden(pp + ".nodePort", "may not be used when `type` is '%s'" % t))
            elif p.get("nodePort"):
                errs += port_num_errors(p["nodePort"], pp + ".nodePort")
        if t != "ExternalName":
            errs += labels_errors(spec.get("selector") or {}, f + ".selector")
        sa = spec.get("sessionAffinity")
        if sa not in ("ClientIP", "None"):
            errs.append(required(f + ".sessionAffinity") if not sa else not_supported(f + ".sessionAffinity", sa, ["ClientIP", "None"]))
        cip = spec.get("clusterIP")
        if cip and cip != "None":
            try:
                ipaddress.ip_address(cip)
            except ValueError:
                errs.append(invalid(f + ".clusterIPs[0]", q(cip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        if old is not None:
            ocip = (old.get("spec") or {}).get("clusterIP")
            if ocip and cip != ocip and t != "ExternalName":
                errs.append(invalid(f + ".clusterIPs[0]", q(cip or ""), "may not change once set"))
        return errs


# --- PersistentVolumeClaim --------------------------------------------------------------------

class PVCHooks(Hooks):
    zero = {"spec": {"resources": {}}, "status": {}}

    def decode(self, obj, r):
        check_quantities([(obj.get("spec") or {}).get("resources")], r)

    def prepare_create(self, obj, r):
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")
            spec.setdefault("resources", {})
        obj["status"] = {"phase": "Pending"}

    def prepare_update(self, new, old, r):
        spec = new.setdefault("spec", {})
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", (old.get("spec") or {}).get("volumeMode", "Filesystem"))
        new["status"] = old.get("status", {"phase": "Pending"})

    def validate(self, obj, old, r):
        spec = obj.get("spec") or {}
        f = "spec"
        errs = []
        modes = spec.get("accessModes") or []
        supported = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
        if not modes:
            errs.append(required(f + ".accessModes", "at least 1 access mode is required"))
        for m in modes:
            if m not in supported:
                errs.append(not_supported(f + ".accessModes", m, supported))
        if "ReadWriteOncePod" in modes and len(modes) > 1:
            errs.append(forbidden(f + ".accessModes", "may not use ReadWriteOncePod with other access modes"))
        sel = spec.get("selector")
        if sel is not None:
            errs += label_selector_errors(sel, f + ".selector")
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            errs.append(required("%s.resources[storage]" % f))
        else:
            v = parse_quantity(storage)
            if v is not None and v < 0:
                errs.append(invalid("%s.resources[storage]" % f, q(qty_text(storage)), NONNEG_MSG))
            elif v is not None and v == 0:
                errs.append(invalid("%s.resources[storage]" % f, q(qty_text(storage)), "must be greater than zero"))
        vm = spec.get("volumeMode")
        if vm is not None and vm not in ("Block", "Filesystem"):
            errs.append(not_supported(f + ".volumeMode", vm, ["Block", "Filesystem"]))
        sc = spec.get("storageClassName")
        if sc:
            errs += validate_name(sc, f + ".storageClassName")
        if old is not None:
            ospec = old.get("spec") or {}
            same = {k: v for k, v in spec.items() if k != "resources"} == {k: v for k, v in ospec.items() if k != "resources"}
            if not same:
                errs.append(forbidden(f, "spec is immutable after creation except resources.requests for bound claims"))
        return errs


# --- NetworkPolicy ----------------------------------------------------------------------------

class NetworkPolicyHooks(Hooks):
    zero = {"spec": {"podSelector": {}}}

    def _defaults(self, obj):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("podSelector", {})
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for p in (rule or {}).get("ports") or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")
        if not spec.get("policyTypes"):
            types = ["Ingress"]
            if spec.get("egress"):
                types.append("Egress")
            spec["policyTypes"] = types

    def prepare_create(self, obj, r):
        self._defaults(obj)

    def prepare_update(self, new, old, r):
        self._defaults(new)

    def _peer_errors(self, peers, field):
        errs = []
        for i, peer in enumerate(peers or []):
            p = "%s[%d]" % (field, i)
            peer = peer or {}
            n = 0
            if peer.get("podSelector") is not None:
                n += 1
                errs += label_selector_errors(peer["podSelector"], p + ".podSelector")
            if peer.get("namespaceSelector") is not None:
                n += 1
                errs += label_selector_errors(peer["namespaceSelector"], p + ".namespaceSelector")
            if peer.get("ipBlock") is not None:
                n += 1
                ib = peer["ipBlock"] or {}
                cidr = ib.get("cidr") or ""
                if not cidr:
                    errs.append(required(p + ".ipBlock.cidr"))
                else:
                    try:
                        net = ipaddress.ip_network(cidr, strict=False)
                    except ValueError:
                        net = None
                        errs.append(invalid(p + ".ipBlock.cidr", q(cidr), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
                    for j, ex in enumerate(ib.get("except") or []):
                        try:
                            exn = ipaddress.ip_network(ex, strict=False)
                            if net is not None and (exn.version != net.version or not exn.subnet_of(net) or exn == net):
                                errs.append(invalid("%s.ipBlock.except[%d]" % (p, j), q(ex), "must be a strict subset of `cidr`"))
                        except ValueError:
                            errs.append(invalid("%s.ipBlock.except[%d]" % (p, j), q(ex), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
                if n > 1:
                    errs.append(forbidden(p, "may not specify both ipBlock and another peer"))
            if n == 0:
                errs.append(required(p, "must specify a peer"))
        return errs

    def _ports_errors(self, ports, field):
        errs = []
        for i, port in enumerate(ports or []):
            p = "%s[%d]" % (field, i)
            port = port or {}
            proto = port.get("protocol")
            if proto is not None and proto not in ("SCTP", "TCP", "UDP"):
                errs.append(not_supported(p + ".protocol", proto, ["SCTP", "TCP", "UDP"]))
            if port.get("port") is not None:
                errs += port_num_or_name_errors(port["port"], p + ".port")
                if port.get("endPort") is not None:
                    if isinstance(port["port"], str):
                        errs.append(forbidden(p + ".endPort", "may not be specified when `port` is non-numeric"))
                    elif port["endPort"] < port["port"]:
                        errs.append(invalid(p + ".endPort", str(port["endPort"]), "must be greater than or equal to `port`"))
            elif port.get("endPort") is not None:
                errs.append(required(p + ".port", "must be specified when `endPort` is specified"))
        return errs

    def validate(self, obj, old, r):
        spec = obj.get("spec") or {}
        f = "spec"
        errs = label_selector_errors(spec.get("podSelector") or {}, f + ".podSelector")
        for i, rule in enumerate(spec.get("ingress") or []):
            p = "%s.ingress[%d]" % (f, i)
            errs += self._ports_errors((rule or {}).get("ports"), p + ".ports")
            errs += self._peer_errors((rule or {}).get("from"), p + ".from")
        for i, rule in enumerate(spec.get("egress") or []):
            p = "%s.egress[%d]" % (f, i)
            errs += self._ports_errors((rule or {}).get("ports"), p + ".ports")
            errs += self._peer_errors((rule or {}).get("to"), p + ".to")
        types = spec.get("policyTypes") or []
        for i, t in enumerate(types):
            if t not in ("Egress", "Ingress"):
                errs.append(not_supported("%s.policyTypes[%d]" % (f, i), t, ["Egress", "Ingress"]))
        if len(types) > 2:
            errs.append(invalid(f + ".policyTypes", "[]networking.PolicyType{...}", "may not specify more than two policyTypes"))
        return errs


# --- PodDisruptionBudget ----------------------------------------------------------------------

class PDBHooks(Hooks):
    zero = {"spec": {}, "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}}

    def decode(self, obj, r):
        pass

    def prepare_create(self, obj, r):
        obj.setdefault("spec", {})
        obj["status"] = {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def prepare_update(self, new, old, r):
        new.setdefault("spec", {})
        new["status"] = old.get("status", {})

    def validate(self, obj, old, r):
        spec = obj.get("spec") or {}
        f = "spec"
        errs = []
        mn, mx = spec.get("minAvailable"), spec.get("maxUnavailable")
        if mn is not None and mx is not None:
            def ptr(v, t):
                return "(%s)(%s)" % (t, _PTR if v is not None else "nil")
            errs.append(invalid(f, "policy.PodDisruptionBudgetSpec{MinAvailable:%s, Selector:%s, MaxUnavailable:%s, UnhealthyPodEvictionPolicy:%s}" % (
                ptr(mn, "*intstr.IntOrString"), ptr(spec.get("selector"), "*v1.LabelSelector"),
                ptr(mx, "*intstr.IntOrString"), ptr(spec.get("unhealthyPodEvictionPolicy"), "*policy.UnhealthyPodEvictionPolicyType")),
                "minAvailable and maxUnavailable cannot be both set"))
        if mn is not None:
            errs += _int_or_percent_errors(mn, f + ".minAvailable")
        if mx is not None:
            errs += _int_or_percent_errors(mx, f + ".maxUnavailable")
        if spec.get("selector") is not None:
            errs += label_selector_errors(spec["selector"], f + ".selector")
        up = spec.get("unhealthyPodEvictionPolicy")
        if up is not None and up not in ("AlwaysAllow", "IfHealthyBudget"):
            errs.append(not_supported(f + ".unhealthyPodEvictionPolicy", up, ["AlwaysAllow", "IfHealthyBudget"]))
        return errs


# --- registration -----------------------------------------------------------------------------

DEPLOYMENT_SPEC = [("spec", [("replicas", None), ("selector", LABEL_SELECTOR), ("template", POD_TEMPLATE),
                             ("strategy", [("type", None), ("rollingUpdate", [("maxUnavailable", None), ("maxSurge", None)])]),
                             ("minReadySeconds", None), ("revisionHistoryLimit", None), ("paused", None),
                             ("progressDeadlineSeconds", None)]),
                   ("status", [("observedGeneration", None), ("replicas", None), ("updatedReplicas", None),
                               ("readyReplicas", None), ("availableReplicas", None), ("unavailableReplicas", None),
                               ("conditions", None), ("collisionCount", None)])]
SERVICE_SPEC = [("spec", [("ports", ("list", [("name", None), ("protocol", None), ("appProtocol", None), ("port", None),
                                              ("targetPort", None), ("nodePort", None)])),
                          ("selector", None), ("clusterIP", None), ("clusterIPs", None), ("type", None),
                          ("externalIPs", None), ("sessionAffinity", None), ("loadBalancerIP", None),
                          ("loadBalancerSourceRanges", None), ("externalName", None), ("externalTrafficPolicy", None),
                          ("healthCheckNodePort", None), ("publishNotReadyAddresses", None),
                          ("sessionAffinityConfig", None), ("ipFamilies", None), ("ipFamilyPolicy", None),
                          ("allocateLoadBalancerNodePorts", None), ("loadBalancerClass", None),
                          ("internalTrafficPolicy", None)]),
                ("status", [("loadBalancer", None), ("conditions", None)])]
PVC_SPEC = [("spec", [("accessModes", None), ("selector", LABEL_SELECTOR), ("resources", [("limits", None), ("requests", None), ("claims", None)]),
                      ("volumeName", None), ("storageClassName", None), ("volumeMode", None), ("dataSource", None),
                      ("dataSourceRef", None)]),
            ("status", [("phase", None), ("accessModes", None), ("capacity", None), ("conditions", None),
                        ("allocatedResources", None), ("resizeStatus", None)])]
NETPOL_PEER = ("list", [("podSelector", LABEL_SELECTOR), ("namespaceSelector", LABEL_SELECTOR), ("ipBlock", [("cidr", None), ("except", None)])])
NETPOL_PORTS = ("list", [("protocol", None), ("port", None), ("endPort", None)])
NETPOL_SPEC = [("spec", [("podSelector", LABEL_SELECTOR),
                         ("ingress", ("list", [("ports", NETPOL_PORTS), ("from", NETPOL_PEER)])),
                         ("egress", ("list", [("ports", NETPOL_PORTS), ("to", NETPOL_PEER)])),
                         ("policyTypes", None)])]
PDB_SPEC = [("spec", [("minAvailable", None), ("selector", LABEL_SELECTOR), ("maxUnavailable", None),
                      ("unhealthyPodEvictionPolicy", None)]),
            ("status", [("observedGeneration", None), ("disruptedPods", None), ("disruptionsAllowed", None),
                        ("currentHealthy", None), ("desiredHealthy", None), ("expectedPods", None), ("conditions", None)])]


def resources(existing=()):
    """The kinds above; plus core/v1 ServiceAccount unless `existing` (resources registered before) has it."""
    from k8s_builtins import _r
    out = []
    dep = _r("apps", "v1", "deployments", "Deployment", True, DEPLOYMENT_SPEC, DeploymentHooks(),
             {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                 "selector": SELECTOR_SCHEMA, "template": TEMPLATE_SCHEMA}}}},
             short=["deploy"], has_generation=True)
    dep.categories = ["all"]
    dep.status_sub = True
    dep.subresources = {"scale": ["get", "patch", "update"], "status": ["get", "patch", "update"]}
    out.append(dep)
    svc = _r("", "v1", "services", "Service", True, SERVICE_SPEC, ServiceHooks(),
             {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                 "ports": _list_map(["port", "protocol"]), "selector": ATOMIC, "clusterIPs": ATOMIC_LIST,
                 "ipFamilies": ATOMIC_LIST, "externalIPs": ATOMIC_LIST}}}},
             short=["svc"])
    svc.categories = ["all"]
    svc.status_sub = True
    svc.verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    svc.subresources = {"proxy": ["create", "delete", "get", "patch", "update"], "status": ["get", "patch", "update"]}
    out.append(svc)
    pvc = _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, PVC_SPEC, PVCHooks(),
             {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                 "accessModes": ATOMIC_LIST, "selector": SELECTOR_SCHEMA,
                 "resources": {"type": "object", "properties": {"limits": LABELS, "requests": LABELS}}}}}},
             short=["pvc"])
    pvc.status_sub = True
    pvc.subresources = {"status": ["get", "patch", "update"]}
    out.append(pvc)
    out.append(_r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, NETPOL_SPEC, NetworkPolicyHooks(),
                  {"type": "object", "properties": {"spec": {"type": "object", "properties": {
                      "podSelector": SELECTOR_SCHEMA, "ingress": ATOMIC_LIST, "egress": ATOMIC_LIST,
                      "policyTypes": ATOMIC_LIST}}}},
                  short=["netpol"], has_generation=True))
    pdb = _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, PDB_SPEC, PDBHooks(),
             {"type": "object", "properties": {"spec": {"type": "object", "properties": {"selector": SELECTOR_SCHEMA}}}},
             short=["pdb"], has_generation=True)
    pdb.status_sub = True
    pdb.subresources = {"status": ["get", "patch", "update"]}
    out.append(pdb)
    if not any(r.group == "" and r.plural == "serviceaccounts" for r in existing):
        # minimal: stored as given (no token controller, no validation beyond metadata)
        out.append(_r("", "v1", "serviceaccounts", "ServiceAccount", True,
                      [("secrets", ("list", [("kind", None), ("namespace", None), ("name", None), ("uid", None),
                                             ("apiVersion", None), ("resourceVersion", None), ("fieldPath", None)])),
                       ("imagePullSecrets", None), ("automountServiceAccountToken", None)], Hooks(),
                      {"type": "object", "properties": {"secrets": _list_map(["name"]),
                                                        "imagePullSecrets": ATOMIC_LIST}},
                      short=["sa"]))
    return out
