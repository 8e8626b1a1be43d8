"""Discovery documents: /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>, /version."""
import builtins_order


def version_info():
    return {"major": "1", "minor": "28", "gitVersion": "v1.28.7-keygate-test", "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2024-02-14T00:00:00Z", "goVersion": "go1.21.7", "compiler": "gc",
            "platform": "linux/amd64"}


def api_versions(host):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def _resource_entries(registry, group, version):
    out = []
    for r in registry.in_group_version(group, version):
        e = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
             "verbs": list(r.verbs)}
        if r.short_names:
            e["shortNames"] = list(r.short_names)
        if r.categories:
            e["categories"] = list(r.categories)
        if r.storage_version_hash:
            e["storageVersionHash"] = r.storage_version_hash
        out.append(e)
        for sub, verbs in r.subresources.items():
            out.append({"name": r.plural + "/" + sub, "singularName": "", "namespaced": r.namespaced, "kind": r.kind,
                        "verbs": list(verbs)})
    return out


def resource_list(registry, group, version):
    gv = group + "/" + version if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": _resource_entries(registry, group, version)}


def _group(registry, group):
    vs = registry.versions_of(group)
    versions = [{"groupVersion": group + "/" + v, "version": v} for v in vs]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group(registry, group):
    g = _group(registry, group)
    return {"kind": "APIGroup", "apiVersion": "v1", "name": g["name"], "versions": g["versions"],
            "preferredVersion": g["preferredVersion"]}


def group_list(registry):
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(registry, g) for g in builtins_order.ordered_groups(registry.groups)]}


def aggregated(registry):
    items = []
    for g in builtins_order.ordered_groups(registry.groups):
        versions = []
        for v in registry.versions_of(g):
            resources = []
            for r in registry.in_group_version(g, v):
                e = {"resource": r.plural, "responseKind": {"group": g, "version": v, "kind": r.kind},
                     "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                     "verbs": list(r.verbs)}
                if r.short_names:
                    e["shortNames"] = list(r.short_names)
                if r.categories:
                    e["categories"] = list(r.categories)
                if r.subresources:
                    e["subresources"] = [{"subresource": s, "responseKind": {"group": g, "version": v, "kind": r.kind},
                                          "verbs": list(vb)} for s, vb in r.subresources.items()]
                resources.append(e)
            versions.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2beta1", "metadata": {}, "items": items}
