"""The OpenAPI documents kubectl reads before it writes (sample 22: kubectl 1.28 GETs /openapi/v2,
/openapi/v3 and the group-version document, then sends fieldValidation=Strict).

What kubectl needs from them, and so what is served (schemas are NOT served: the server
validates; `kubectl explain` therefore shows nothing):
- /openapi/v2: kubectl builds its client-side validator from it on every write. It asks for
  protobuf; an empty protobuf message is a valid, empty swagger Document (no definitions).
- /openapi/v3: the index of group-version documents ({"paths": {"apis/g/v": {serverRelativeURL}}}).
- /openapi/v3/apis/<g>/<v> (and /api/v1): one path per resource collection and item, whose
  operations carry `x-kubernetes-group-version-kind` and the `fieldValidation` and `dryRun`
  query parameters. kubectl's QueryParamVerifierV3 looks for a PATCH operation of the kind with
  a `fieldValidation` query parameter; finding it, kubectl validates on the server
  (fieldValidation=Strict) instead of against client-side schemas.
"""
import hashlib
import json

# What the real server answers to kubectl's Accept "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# ("@" is not valid in a media type; kubectl rejects a response that echoes it).
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_QUERY = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
          for n in ("dryRun", "fieldManager", "fieldValidation")]


def _gv_key(group, version):
    return "api/v1" if group == "" else "apis/%s/%s" % (group, version)


def gv_document(registry, group, version):
    """OpenAPI 3.0 document of one group-version: operations only, no schemas."""
    paths = {}
    prefix = "/" + _gv_key(group, version)
    for r in registry.in_group_version(group, version):
        if r.virtual and "create" in r.verbs:
            base = "%s/%s" % (prefix, r.plural)
            paths[base] = {"post": _op("create", r)}
            continue
        gvk = {"group": r.group, "kind": r.kind, "version": r.version}
        coll = "%s/namespaces/{namespace}/%s" % (prefix, r.plural) if r.namespaced else "%s/%s" % (prefix, r.plural)
        paths[coll] = {"get": _op("list", r, gvk), "post": _op("create", r, gvk)}
        item = coll + "/{name}"
        paths[item] = {"get": _op("read", r, gvk), "put": _op("replace", r, gvk), "patch": _op("patch", r, gvk),
                       "delete": _op("delete", r, gvk)}
        for sub in sorted(r.subresources):
            paths[item + "/" + sub] = {"get": _op("read", r, gvk), "put": _op("replace", r, gvk),
                                       "patch": _op("patch", r, gvk)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.28.7"}, "paths": paths,
            "components": {"schemas": {}}}


def _op(action, r, gvk=None):
    op = {"operationId": "%s%s" % (action, r.kind), "parameters": list(_QUERY) if action in ("create", "replace", "patch") else [],
          "responses": {"200": {"description": "OK"}}, "x-kubernetes-action": {"read": "get", "replace": "put"}.get(action, action)}
    if gvk:
        op["x-kubernetes-group-version-kind"] = gvk
    return op


def v3_index(registry):
    """/openapi/v3: every served group-version, with a content hash in its URL as the real server does."""
    paths = {}
    gvs = [("", "v1")] + [(g, v) for g in registry.groups if g for v in registry.versions_of(g)]
    for g, v in gvs:
        key = _gv_key(g, v)
        body = json.dumps(gv_document(registry, g, v), sort_keys=True).encode()
        digest = hashlib.sha512(body).hexdigest().upper()[:128]
        paths[key] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (key, digest)}
    return {"paths": paths}


def lookup(registry, path):
    """(kind, body) for an /openapi path: kind 'v2' (protobuf bytes) or 'json' (a dict); None if unknown."""
    p = path.rstrip("/")
    if p == "/openapi/v2":
        return "v2", b""
    if p == "/openapi/v3":
        return "json", v3_index(registry)
    parts = [x for x in p.split("/") if x][2:]
    if parts == ["api", "v1"]:
        return "json", gv_document(registry, "", "v1")
    if len(parts) == 3 and parts[0] == "apis" and parts[2] in registry.versions_of(parts[1]):
        return "json", gv_document(registry, parts[1], parts[2])
    return None
