"""Resource registry: what each served resource is (from CRDs or built in) and how it behaves."""
import os

import yaml

import schema as schema_mod
import label_selectors as selectors


class Resource:
    def __init__(self, group, version, plural, kind, namespaced=True, singular=None, list_kind=None,
                 builtin=False):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.singular = singular or kind.lower()
        self.list_kind = list_kind or kind + "List"
        self.namespaced = namespaced
        self.builtin = builtin
        self.schema = None            # CR: openAPIV3Schema; built-in: a pseudo schema for managedFields
        self.status_sub = False
        self.printer_columns = []
        self.short_names = []
        self.categories = []
        self.has_generation = not builtin
        self.order_spec = None        # built-ins: struct order (wire.typed(...))
        self.field_selectors = selectors.META_FIELDS
        self.allow_create_on_update = False
        self.allow_unconditional_update = builtin
        self.verbs = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
        self.subresources = {}        # name -> verbs (discovery)
        self.storage = None           # (group, plural) of the shared storage, when not our own
        self.to_storage = None        # conversion hooks for shared storage (events.k8s.io <-> v1)
        self.from_storage = None
        self.hooks = None             # builtins.Hooks: defaults / validation / decoding
        self.storage_version_hash = ""
        self.has_cel = False
        self.virtual = False          # access reviews: create-only, nothing stored

    @property
    def api_version(self):
        return self.group + "/" + self.version if self.group else self.version

    @property
    def qualified(self):
        return self.plural + "." + self.group if self.group else self.plural

    @property
    def kind_label(self):
        """Prefix of 422 messages: 'Widget.example.test' or 'Event' for the core group."""
        return self.kind + "." + self.group if self.group else self.kind

    @property
    def storage_key(self):
        return self.storage or (self.group, self.plural)

    def base_path(self):
        return ("/apis/" + self.group + "/" + self.version) if self.group else "/api/v1"


class Registry:
    def __init__(self):
        self.by_path = {}     # (group, version, plural) -> Resource
        self.groups = []      # order of groups for discovery (built-ins first, CRD groups appended)

    def add(self, r):
        self.by_path[(r.group, r.version, r.plural)] = r
        if r.group and r.group not in self.groups:
            self.groups.append(r.group)

    def get(self, group, version, plural):
        return self.by_path.get((group, version, plural))

    def replace(self, group, plural, new_resources):
        """Swaps the served versions of one custom resource (CRD controller, crds.py). Copy-on-write: readers
        iterating the old dict are not disturbed."""
        by_path = {k: r for k, r in self.by_path.items() if not (k[0] == group and k[2] == plural and not r.builtin)}
        for r in new_resources:
            by_path[(r.group, r.version, r.plural)] = r
        groups = list(self.groups)
        if group and group not in groups and new_resources:
            groups.append(group)
        used = {k[0] for k in by_path}
        self.by_path = by_path
        self.groups = [g for g in groups if g in used]

    def in_group_version(self, group, version):
        return [r for (g, v, _), r in self.by_path.items() if g == group and v == version]

    def versions_of(self, group):
        vs = []
        for (g, v, _) in self.by_path:
            if g == group and v not in vs:
                vs.append(v)
        return vs

    def find_kind(self, group, kind):
        for r in self.by_path.values():
            if r.group == group and r.kind == kind:
                return r
        return None


def _storage_hash(group, version, kind):
    import base64
    import hashlib
    h = hashlib.sha256(("%s/%s/%s" % (group, version, kind)).encode()).digest()
    return base64.b64encode(h[:8]).decode()


def load_crd_paths(paths):
    """Reads CRD documents from files and directories (multi-doc YAML allowed)."""
    crds = []
    for p in paths:
        files = []
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    if n.endswith((".yaml", ".yml", ".json")):
                        files.append(os.path.join(root, n))
        else:
            files.append(p)
        for f in sorted(files):
            with open(f, encoding="utf-8") as fh:
                for doc in yaml.safe_load_all(fh):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        crds.append(doc)
    return crds


def resources_from_crd(crd):
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group = spec["group"]
    out = []
    for v in spec.get("versions", []):
        if not v.get("served", True):
            continue
        r = Resource(group, v["name"], names["plural"], names["kind"],
                     namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                     singular=names.get("singular"), list_kind=names.get("listKind"))
        r.schema = (v.get("schema") or {}).get("openAPIV3Schema") or {"type": "object",
                                                                      "x-kubernetes-preserve-unknown-fields": True}
        r.has_cel = schema_mod.has_cel(r.schema)
        subs = v.get("subresources") or {}
        r.status_sub = "status" in subs
        if r.status_sub:
            r.subresources["status"] = ["get", "patch", "update"]
        if "scale" in subs:
            r.subresources["scale"] = ["get", "patch", "update"]
        r.printer_columns = v.get("additionalPrinterColumns") or []
        r.short_names = names.get("shortNames") or []
        r.categories = names.get("categories") or []
        r.storage_version_hash = _storage_hash(group, v["name"], names["kind"])
        r.storage = (group, names["plural"])
        out.append(r)
    return out
