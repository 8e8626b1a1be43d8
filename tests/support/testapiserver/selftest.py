#!/usr/bin/python3
"""Unit tests for the test API server's pure parts: selectors, patches, schema validation,
continue tokens, managedFields, MicroTime parsing. Ends with 'N passed, M failed'."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import gotime  # noqa: E402
import label_selectors as sel  # noqa: E402
import managedfields  # noqa: E402
import patch  # noqa: E402
import schema  # noqa: E402
import wire  # noqa: E402
from errors import ApiError  # noqa: E402

WIDGET = {"type": "object", "properties": {
    "spec": {"type": "object", "required": ["size"], "properties": {
        "size": {"type": "integer", "minimum": 1}, "color": {"type": "string", "enum": ["red", "blue"]},
        "mode": {"type": "string"}},
        "x-kubernetes-validations": [{"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"}]},
    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}


class Selectors(unittest.TestCase):
    # equality, set-based and existence requirements all match like apimachinery
    def test_match(self):
        labels = {"app": "demo", "tier": "back"}
        for text, want in [("app=demo", True), ("app==demo", True), ("app!=demo", False), ("tier in (back),app", True),
                           ("tier notin (back)", False), ("!tier", False), ("!missing", True), ("app", True),
                           ("app=demo,tier=front", False), ("", True)]:
            self.assertEqual(sel.label_matches(sel.parse_label_selector(text), labels), want, text)

    # a syntax error carries apimachinery's message
    def test_error(self):
        with self.assertRaises(sel.SelectorError) as cm:
            sel.parse_label_selector("app in demo")
        self.assertEqual(str(cm.exception), "unable to parse requirement: found 'demo' expected: '('")

    # custom resources only support metadata.name / metadata.namespace field selectors
    def test_field(self):
        reqs = sel.parse_field_selector("metadata.name=a", sel.META_FIELDS)
        self.assertTrue(sel.field_matches(reqs, {"metadata": {"name": "a"}}, sel.META_FIELDS))
        with self.assertRaises(ApiError) as cm:
            sel.parse_field_selector("spec.color=red", sel.META_FIELDS)
        self.assertEqual(cm.exception.message, "field label not supported: spec.color")


class Patches(unittest.TestCase):
    # RFC 7386: null deletes, objects merge, other values replace
    def test_merge(self):
        self.assertEqual(patch.merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None, "e": 3}, "d": [2]}),
                         {"a": {"c": 2, "e": 3}, "d": [2]})

    # RFC 6902: test/replace/add/remove/move/copy, escaping, and failures
    def test_json_patch(self):
        doc = {"metadata": {}, "spec": {"size": 4, "l": [1, 2]}}
        out = patch.json_patch(doc, [{"op": "test", "path": "/spec/size", "value": 4},
                                     {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}},
                                     {"op": "add", "path": "/metadata/annotations/c~1d", "value": "2"},
                                     {"op": "add", "path": "/spec/l/-", "value": 3},
                                     {"op": "move", "from": "/spec/size", "path": "/spec/n"}])
        self.assertEqual(out, {"metadata": {"annotations": {"a/b": "1", "c/d": "2"}}, "spec": {"l": [1, 2, 3], "n": 4}})
        self.assertEqual(doc["spec"]["size"], 4)   # input untouched
        with self.assertRaises(patch.PatchError):
            patch.json_patch(doc, [{"op": "test", "path": "/spec/size", "value": 99}])
        with self.assertRaises(patch.PatchError):
            patch.json_patch(doc, [{"op": "remove", "path": "/spec/nothere"}])


class Schema(unittest.TestCase):
    def causes(self, obj):
        res = schema.validate(obj, WIDGET)
        return [(c["reason"], c["field"], c["message"]) for c in res.structural + res.value]

    # type, enum, required and minimum errors read like kube-openapi's
    def test_errors(self):
        self.assertEqual(self.causes({"spec": {"size": "x"}}), [
            ("FieldValueTypeInvalid", "spec.size", 'Invalid value: "string": spec.size in body must be of type integer: "string"')])
        self.assertEqual(self.causes({"spec": {"size": 0, "color": "green"}}), [
            ("FieldValueInvalid", "spec.size", "Invalid value: 0: spec.size in body should be greater than or equal to 1"),
            ("FieldValueNotSupported", "spec.color", 'Unsupported value: "green": supported values: "red", "blue"')])
        self.assertEqual(self.causes({"spec": {}}), [("FieldValueRequired", "spec.size", "Required value")])
        self.assertEqual(self.causes({"spec": {"size": 2.5}})[0][2],
                         'Invalid value: "number": spec.size in body must be of type integer: "number"')

    # integral floats decode as integers (3.0 -> 3)
    def test_integral_float(self):
        obj = wire.parse_json('{"spec": {"size": 3.0}}')
        self.assertEqual(obj["spec"]["size"], 3)
        self.assertIsInstance(obj["spec"]["size"], int)
        self.assertEqual(self.causes(obj), [])

    # unknown fields are pruned and reported with their paths; duplicates are found
    def test_prune(self):
        obj = wire.parse_json('{"metadata": {"name": "x", "bogus": 1}, "spec": {"size": 1, "size": 2, "extra": 1}, "top": 1}')
        self.assertEqual(sorted(schema.prune(obj, WIDGET)), ["metadata.bogus", "spec.extra", "top"])
        self.assertEqual(obj, {"metadata": {"name": "x"}, "spec": {"size": 2}})
        self.assertEqual(wire.collect_dups(wire.parse_json('{"spec": {"size": 1, "size": 2}}')), ["spec.size"])

    # the two supported CEL transition patterns, incl. the 'no such key' runtime error
    def test_cel(self):
        old = {"spec": {"size": 1, "mode": "fast"}}
        self.assertEqual(schema.cel_transition_errors({"spec": {"size": 2, "mode": "fast"}}, old, WIDGET), [])
        errs = schema.cel_transition_errors({"spec": {"size": 1, "mode": "slow"}}, old, WIDGET)
        self.assertEqual(errs[0]["message"], 'Invalid value: "object": mode is immutable')
        errs = schema.cel_transition_errors({"spec": {"size": 1}}, {"spec": {"size": 1}}, WIDGET)
        self.assertEqual(errs[0]["message"], 'Invalid value: "object": no such key: mode evaluating rule: mode is immutable')


class ContinueTokens(unittest.TestCase):
    # the token is unpadded base64url of {"v","rv","start"} exactly as recorded in 03
    def test_roundtrip(self):
        tok = api._encode_continue(242, "bravo\x00")
        self.assertEqual(tok, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjQyLCJzdGFydCI6ImJyYXZvXHUwMDAwIn0")
        self.assertEqual(api.decode_continue(tok), (242, "bravo\x00"))

    # garbage is a 400 with Go's json error text
    def test_garbage(self):
        with self.assertRaises(ApiError) as cm:
            api.decode_continue("garbage")
        self.assertEqual(cm.exception.code, 400)
        self.assertEqual(cm.exception.message,
                         "invalid continue token: continue key is not valid: invalid character '\\u0081' looking for beginning of value")


class StoreRanges(unittest.TestCase):
    # a page of a list at any revision (current, or older with creates, updates, deletes and
    # re-creates since) holds exactly what a full copy of the state at that revision holds, in
    # etcd's order ("a-b/x" before "a/x"), however the list is cut into pages
    def test_range_matches_a_full_replay(self):
        import random
        import store as store_mod
        rng = random.Random(7)
        st = store_mod.Store(watch_cache_size=100000)
        key = ("keygate.dev", "encryptionkeys")
        other = ("", "configmaps")
        history = []   # (rv, {(ns, name): obj}) after every write
        live = {}
        for step in range(600):
            ns = rng.choice(["a", "a-b", "ab", "b", "a.b"])
            name = "k%d" % rng.randrange(40)
            if rng.random() < 0.1:
                st.write(other, "a", "noise", {"metadata": {"name": "noise"}})
            elif (ns, name) in live and rng.random() < 0.3:
                st.delete(key, ns, name)
                del live[(ns, name)]
            else:
                obj = st.write(key, ns, name, {"metadata": {"name": name, "namespace": ns}, "step": step})
                live[(ns, name)] = obj
            history.append((st.rv, dict(live)))
        for rv, state in history[::37] + [history[-1]]:
            for ns in (None, "a", "a-b"):
                want = sorted(((k[0] + "/" + k[1]), v) for k, v in state.items() if ns is None or k[0] == ns)
                self.assertEqual([v for _, v in want], st.snapshot(key, ns, rv))
                for after_i in {0, 1, len(want) // 2, len(want) - 1}:
                    if not 0 <= after_i < len(want):
                        continue
                    after = want[after_i][0]
                    rest = [v for s, v in want if s > after]
                    count, objs = st.range(key, ns, rv, after)
                    self.assertEqual((len(rest), rest), (count, list(objs)), (rv, ns, after))
        self.assertEqual(["a-b/k1", "a/k1"], sorted(["a/k1", "a-b/k1"]))   # the order etcd's keys have

    # a cluster-wide list read page by page through the handler's list_ returns every object
    # once, across namespaces that are prefixes of each other (tenant, tenant-b, tenant.c):
    # before, objects were sorted as (namespace, name) but continue keys compared as strings,
    # and this walk returned 3 of the 9
    def test_paged_cluster_list_crosses_namespaces(self):
        import types
        import resources
        import store as store_mod
        from http_handler import Req
        st = store_mod.Store()
        r = resources.Resource("keygate.dev", "v1alpha1", "encryptionkeys", "EncryptionKey", namespaced=True)
        want = []
        for ns in ["tenant", "tenant-b", "tenant.c"]:
            for i in range(3):
                st.write(r.storage_key, ns, "k%d" % i, {"metadata": {"name": "k%d" % i, "namespace": ns}})
                want.append("%s/k%d" % (ns, i))
        ctx = types.SimpleNamespace(store=st)
        for limit in (1, 2, 4, 500):
            got, cont, remaining = [], None, []
            while True:
                q = "?limit=%d" % limit + ("&continue=" + cont if cont else "")
                _, page, meta = api.list_(ctx, Req("GET", "/apis/keygate.dev/v1alpha1/encryptionkeys" + q, {}, b""), r, None)
                got += ["%s/%s" % (o["metadata"]["namespace"], o["metadata"]["name"]) for o in page]
                cont = meta.get("continue")
                if not cont:
                    break
                remaining.append(meta["remainingItemCount"])
            self.assertEqual(sorted(want), got, limit)   # every object once, in etcd's order
            self.assertEqual([9 - limit * (k + 1) for k in range(len(remaining))], remaining, limit)

    # a revision older than the watch cache is refused (410 in the handler)
    def test_too_old(self):
        import store as store_mod
        st = store_mod.Store(watch_cache_size=2)
        for i in range(5):
            st.write(("", "configmaps"), "a", "c%d" % i, {"metadata": {"name": "c%d" % i}})
        with self.assertRaises(store_mod.TooOld):
            st.range(("", "configmaps"), None, st.rv - 4)
        count, objs = st.range(("", "configmaps"), None, st.rv - 1, "a/c1")   # c2, c3 (c4 came later)
        self.assertEqual((2, ["c2", "c3"]), (count, [o["metadata"]["name"] for o in objs]))


class CachedListEncoding(unittest.TestCase):
    """A list page joined from cached item encodings is byte for byte the generic encoding,
    and an object's new version (a new dict, as the store writes it) is never served stale."""

    def test_joined_page_equals_generic_encoding(self):
        import random
        rnd = random.Random(7)
        alphabet = ["a", "Z", "<", ">", "&", "\u2028", "\u00e9", "\"", "\\", "\n", "\U0001f511", "/"]

        def value(depth):
            c = rnd.randrange(7 if depth < 3 else 4)
            if c == 0:
                return "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(6)))
            if c == 1:
                return rnd.choice([0, -3, 2 ** 40, 1.5, True, False, None])
            if c == 2:
                return rnd.choice(["", "x"])
            if c == 3:
                return rnd.randrange(1000)
            if c == 4:
                return [value(depth + 1) for _ in range(rnd.randrange(4))]
            return {"".join(rnd.choice(alphabet) for _ in range(1 + rnd.randrange(4))): value(depth + 1)
                    for _ in range(rnd.randrange(5))}

        cache = wire.ItemCache()
        for round_ in range(30):
            items = [{"metadata": {"namespace": "ns-%d" % (i % 3), "name": "k%d" % i, "uid": "u%d" % i,
                                   "resourceVersion": str(round_)},
                      "spec": value(0), "zeta": value(1), "Alpha": value(2)} for i in range(rnd.randrange(8))]
            lm = {"continue": rnd.choice(["", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ"]), "resourceVersion": str(round_)}
            if rnd.random() < 0.5:
                lm["remainingItemCount"] = rnd.randrange(100)
            want = wire.encode_json(wire.Sorted({"apiVersion": "keygate.dev/v1alpha1", "items": items,
                                                 "kind": "EncryptionKeyList", "metadata": lm}), False)
            self.assertEqual(wire.encode_sorted_list("keygate.dev/v1alpha1", "EncryptionKeyList", items, lm, cache), want)
            # the same objects again: served from the cache, still identical
            self.assertEqual(wire.encode_sorted_list("keygate.dev/v1alpha1", "EncryptionKeyList", items, lm, cache), want)

    def test_a_new_version_is_never_served_stale(self):
        cache = wire.ItemCache()
        v1 = {"metadata": {"namespace": "a", "name": "k", "uid": "u", "resourceVersion": "1"}, "spec": {"x": 1}}
        v2 = dict(v1, spec={"x": 2})
        self.assertIn(b'"x":1', cache.item(v1))
        self.assertIn(b'"x":2', cache.item(v2))
        cache.forget(v2)
        self.assertIn(b'"x":1', cache.item(v1))


class ManagedFields(unittest.TestCase):
    # create records every field with '.' on containers; apply records leaves only
    def test_update_and_apply(self):
        obj = {"metadata": {"labels": {"a": "1"}}, "spec": {"size": 1}}
        entries = managedfields.update([], {"metadata": {}}, obj, WIDGET, "curl", "example.test/v1", "T")
        self.assertEqual(entries[0]["fieldsV1"], {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {".": {}, "f:size": {}}})
        new, entries = managedfields.apply(entries, obj, {"spec": {"size": 1}}, WIDGET, "mgr", "example.test/v1", "T", False)
        self.assertEqual([e["manager"] for e in entries], ["mgr", "curl"])   # Apply sorts before Update
        with self.assertRaises(managedfields.ApplyConflict):
            managedfields.apply(entries, obj, {"spec": {"size": 5}}, WIDGET, "other", "example.test/v1", "T", False)


    # the one-walk diff gives exactly the sets of the fieldset-based definition
    def test_diff_matches_fieldsets(self):
        import copy
        import random
        sch = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set"},
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object"}},
            "blob": {"type": "object", "x-kubernetes-map-type": "atomic"},
            "plain": {"type": "array"},
            "m": {"type": "object", "additionalProperties": {"type": "object"}}}}}}
        rnd = random.Random(7)

        def value(depth=0):
            c = rnd.random()
            if depth > 3 or c < 0.4:
                return rnd.choice([1, 2, "a", "b", True, None, 1.5, [1], {}])
            if c < 0.7:
                return {rnd.choice("abcd"): value(depth + 1) for _ in range(rnd.randint(0, 3))}
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]

        def obj():
            o = {"apiVersion": "v1", "kind": "K", "metadata": {}}
            if rnd.random() < 0.7:
                o["metadata"]["labels"] = {rnd.choice("xyz"): rnd.choice("12") for _ in range(rnd.randint(0, 2))}
            if rnd.random() < 0.5:
                o["metadata"]["finalizers"] = rnd.sample(["f1", "f2", "f3"], rnd.randint(0, 3))
            spec = {}
            for k in ["tags", "ports", "blob", "plain", "m", "x"]:
                if rnd.random() < 0.6:
                    if k == "tags":   # repeated items too: the ambiguous case
                        spec[k] = [rnd.choice(["a", "b", "c", 1, {"q": 1}]) for _ in range(rnd.randint(0, 3))]
                    elif k == "ports":
                        spec[k] = [{"name": rnd.choice("pqr"), "port": rnd.randint(1, 3)} for _ in range(rnd.randint(0, 3))]
                    else:
                        spec[k] = value()
            if rnd.random() < 0.9:
                o["spec"] = spec if rnd.random() < 0.9 else value()
            if rnd.random() < 0.5:
                o["status"] = value()
            return o

        for _ in range(3000):
            a, b = obj(), obj()
            if rnd.random() < 0.5:   # mostly-equal pairs, as in real updates
                b = copy.deepcopy(a)
                if isinstance(b.get("spec"), dict) and b["spec"]:
                    b["spec"][rnd.choice(list(b["spec"]))] = value()
            old_set, new_set = managedfields.fieldset(a, sch), managedfields.fieldset(b, sch)
            leaves = managedfields.leaves(new_set)
            want = (new_set - old_set, old_set - new_set,
                    {p for p in new_set & old_set
                     if p in leaves and managedfields.get_path(b, p) != managedfields.get_path(a, p)})
            self.assertEqual(managedfields.diff(a, b, sch), want, (a, b))


class FastHeaders(unittest.TestCase):
    # same headers as the email parser, also for folded, malformed and non-ASCII lines
    def test_same_as_email_parser(self):
        import email.parser
        import http.client
        import io
        import fastheaders
        cases = [b"Host: x\r\nContent-Type: application/json\r\nAccept:  a, b \r\nX-Empty:\r\n\r\n",
                 b"Host: x\r\nFolded: a\r\n  b\r\n\r\n", b"Bad Line\r\nHost: y\r\n\r\n",
                 b"Host : z\r\n\r\n", b": no name\r\n\r\n", b"From me\r\nA: 1\r\n\r\n", b"\r\n",
                 b"A: 1\nB: 2\n\n", b"A: caf\xe9\r\n\r\n", b"A: 1\r2\r\n\r\n", b"A: 1\r\na: 2\r\n\r\n"]
        for raw in cases:
            got = fastheaders.parse_headers(io.BytesIO(raw), fastheaders.Headers)
            want = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(raw.decode("iso-8859-1"))
            self.assertEqual(got.items(), want.items(), raw)
            self.assertEqual(got.get_payload(), want.get_payload(), raw)
            for name in ("host", "HOST", "accept", "x-empty", "folded", "a", "missing"):
                self.assertEqual(got.get(name), want.get(name), (raw, name))


class MicroTime(unittest.TestCase):
    # exactly six fractional digits; offsets normalised to UTC; Go's parse errors
    def test_parse(self):
        self.assertEqual(gotime.parse_micro("2026-11-23T13:05:17.500000+02:00"), "2026-11-23T11:05:17.500000Z")
        for bad, msg in [("2026-11-23T11:05:15Z", 'cannot parse "Z" as ".000000"'),
                         ("2026-11-23T11:05:16.123Z", 'cannot parse ".123Z" as ".000000"'),
                         ("2026-11-23T11:05:16.123456789Z", 'cannot parse "789Z" as "Z07:00"'),
                         ("yesterday", 'cannot parse "yesterday" as "2006"')]:
            with self.assertRaises(gotime.TimeError) as cm:
                gotime.parse_micro(bad)
            self.assertTrue(str(cm.exception).endswith(msg), str(cm.exception))


class Workloads(unittest.TestCase):
    # workloads.py: defaults, then validation with kube-apiserver 1.28's messages
    def _deployment_errors(self, mutate):
        import workloads
        d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {
                "containers": [{"name": "c", "image": "img:1", "volumeMounts": [{"name": "v", "mountPath": "/v"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]}}}}
        mutate(d)
        h = workloads.DeploymentHooks()
        h.prepare_create(d, None)
        return ["%s: %s" % (c["field"], c["message"]) for c in h.validate(d, None, None)]

    def test_deployment_defaults_and_valid(self):
        self.assertEqual(self._deployment_errors(lambda d: None), [])

    def test_volume_mount_not_found(self):
        def m(d):
            d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].append({"name": "x", "mountPath": "/v"})
        self.assertEqual(self._deployment_errors(m), [
            'spec.template.spec.containers[0].volumeMounts[1].name: Not found: "x"',
            'spec.template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/v": must be unique'])

    def test_selector_mismatch(self):
        def m(d):
            d["spec"]["selector"]["matchLabels"] = {"app": "b"}
        self.assertEqual(self._deployment_errors(m), [
            'spec.template.metadata.labels: Invalid value: map[string]string{"app":"a"}: '
            '`selector` does not match template `labels`'])

    def test_service_ports(self):
        import workloads
        s = {"spec": {"ports": [{"name": "a", "port": 0, "targetPort": "web"}, {"port": 80}]}}
        h = workloads.ServiceHooks()
        h.prepare_create(s, None)
        self.assertEqual(s["spec"]["ports"][1]["targetPort"], 80)
        self.assertEqual(s["spec"]["type"], "ClusterIP")
        self.assertEqual(["%s: %s" % (c["field"], c["message"]) for c in h.validate(s, None, None)], [
            "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            "spec.ports[1].name: Required value"])


def start_server(cls, prefix, extra_args=()):
    ServerSmoke.start.__func__(cls, prefix, extra_args)


class RbacEscalation(unittest.TestCase):
    """Covers() and the refusal text (rbac_escalation.py's doc lists what is relied on)."""

    def test_covers(self):
        import rbac_escalation as esc
        held = [{"apiGroups": ["keygate.dev"], "resources": ["encryptionkeys", "keyrolebindings/*"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get"]},
                {"apiGroups": ["x"], "resources": ["*/status"], "verbs": ["*"]},
                {"nonResourceURLs": ["/metrics*"], "verbs": ["get"]}]
        ok = [{"apiGroups": ["keygate.dev"], "resources": ["encryptionkeys"], "verbs": ["get", "list"]},
              {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get"]},
              {"apiGroups": ["x"], "resources": ["widgets/status"], "verbs": ["patch"]},
              {"nonResourceURLs": ["/metrics/x"], "verbs": ["get"]}]
        self.assertEqual(esc.missing_rights(held, ok), [])
        self.assertEqual(len(esc.missing_rights(held, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])), 1,
                         "a rule without names needs a held rule without names")
        # Unlike the authorizer, the escalation check reads "res/*" literally: only "*/sub" covers a subresource.
        self.assertEqual(len(esc.missing_rights(held, [{"apiGroups": ["keygate.dev"], "resources": ["keyrolebindings/status"],
                                                          "verbs": ["get"]}])), 1)
        self.assertEqual(len(esc.missing_rights(held, [{"apiGroups": ["*"], "resources": ["encryptionkeys"], "verbs": ["get"]}])), 1)


class ServerSmoke(unittest.TestCase):
    """Starts the real server once: control endpoints, faults, client certificates, exit codes."""

    @classmethod
    def setUpClass(cls):
        start_server(cls, "tas-selftest-")

    @classmethod
    def start(cls, prefix, extra_args=()):
        """Starts server.py for the class (cls.proc, host, port, ca, tls, tmp) with CRD_YAML and two users."""
        import subprocess
        import tempfile
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        tokens = os.path.join(cls.tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('tok-admin,admin,uid-admin,"system:masters"\ntok-alice,alice,uid-alice\n'
                     'tok-root,root,uid-root,"system:masters"\n')
        crd = os.path.join(cls.tmp, "crd.yaml")
        with open(crd, "w") as fh:
            fh.write(CRD_YAML)
        cls.tls = os.path.join(cls.tmp, "tls")
        cls.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py"),
                                     "--crd", crd, "--tokens", tokens, "--tls-dir", cls.tls, "--namespaces", "default,ns1"]
                                    + list(extra_args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline().split()
        assert line and line[0] == "READY", line
        cls.host, cls.port = line[1][len("https://"):].rsplit(":", 1)
        cls.ca = line[2]

    @classmethod
    def tearDownClass(cls):
        import shutil
        import signal
        if cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            cls.proc.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def req(self, method, path, body=None, token="tok-admin", ctype="application/json", cert=None):
        import http.client
        import json as _json
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(*cert)
        c = http.client.HTTPSConnection(self.host, int(self.port), context=ctx, timeout=10)
        h = {"Content-Type": ctype}
        if token:
            h["Authorization"] = "Bearer " + token
        c.request(method, path, body=_json.dumps(body) if body is not None else None, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, dict(r.getheaders()), _json.loads(data)
        except ValueError:
            return r.status, dict(r.getheaders()), data

    # Escalation prevention: alice, allowed to write roles and rolebindings in ns1 but holding no
    # widget rights, cannot grant them (roles, bindings to a ClusterRole, or a missing role);
    # once she holds them she can. Messages as kube-apiserver words them.
    def test_rbac_escalation(self):
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        writer = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "rbac-writer"},
                  "rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                             "verbs": ["create", "update", "patch", "get"]}]}
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/roles", writer)[0], 201)
        bind = lambda name, kind, role: {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                         "metadata": {"name": name},
                                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                                         "subjects": [{"kind": "User", "name": "alice"}]}
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/rolebindings", bind("alice-writer", "Role", "rbac-writer"))[0], 201)
        gizmo_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "gizmo-admin"},
                      "rules": [{"apiGroups": ["example.test"], "resources": ["gizmos"], "verbs": ["get", "delete"]},
                                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s1"], "verbs": ["get"]}]}
        code, _, body = self.req("POST", rbac + "/namespaces/ns1/roles", gizmo_role, token="tok-alice")
        self.assertEqual(code, 403, body)
        self.assertEqual(body["reason"], "Forbidden")
        self.assertEqual(body["details"], {"name": "gizmo-admin", "group": "rbac.authorization.k8s.io", "kind": "roles"})
        self.assertEqual(body["message"],
                         'roles.rbac.authorization.k8s.io "gizmo-admin" is forbidden: user "alice" (groups=["system:authenticated"]) '
                         'is attempting to grant RBAC permissions not currently held:\n'
                         '{APIGroups:[""], Resources:["secrets"], ResourceNames:["s1"], Verbs:["get"]}\n'
                         '{APIGroups:["example.test"], Resources:["gizmos"], Verbs:["get" "delete"]}')
        code, _, body = self.req("POST", rbac + "/namespaces/ns1/rolebindings", bind("b1", "ClusterRole", "cluster-admin"),
                                 token="tok-alice")
        self.assertEqual(code, 403, body)
        self.assertTrue(body["message"].startswith('rolebindings.rbac.authorization.k8s.io "b1" is forbidden: user "alice"'), body)
        code, _, body = self.req("POST", rbac + "/namespaces/ns1/rolebindings", bind("b2", "Role", "nope"), token="tok-alice")
        self.assertEqual((code, body["message"]), (403, 'rolebindings.rbac.authorization.k8s.io "b2" is forbidden: '
                                                        'role.rbac.authorization.k8s.io "nope" not found'))
        # The admin creates the role; binding it still needs the rights (or bind) ...
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/roles", gizmo_role)[0], 201)
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/rolebindings", bind("b3", "Role", "gizmo-admin"),
                                  token="tok-alice")[0], 403)
        # ... `bind` on that role name is enough for the binding, `escalate` for the role.
        writer["rules"].append({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                "resourceNames": ["gizmo-admin", "gizmo-2"], "verbs": ["bind", "escalate"]})
        self.assertEqual(self.req("PUT", rbac + "/namespaces/ns1/roles/rbac-writer", writer)[0], 200)
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/rolebindings", bind("b3", "Role", "gizmo-admin"),
                                  token="tok-alice")[0], 201)
        gizmo_role["metadata"]["name"] = "gizmo-2"
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/roles", gizmo_role, token="tok-alice")[0], 201)
        # Holding the rights (through b3 now) is enough without escalate.
        gizmo_role["metadata"]["name"] = "gizmo-3"
        self.assertEqual(self.req("POST", rbac + "/namespaces/ns1/roles", gizmo_role, token="tok-alice")[0], 201)

    def widget(self, name):
        return {"apiVersion": "example.test/v1", "kind": "Gizmo", "metadata": {"name": name}, "spec": {"size": 1}}

    # CRDs through the API: 201 with conditions null, Established shortly after, served, names conflicts,
    # 422 for an invalid CRD, DELETE stops serving it (sample 21)
    def test_crd_lifecycle(self):
        import time
        base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

        def crd(plural, kind, short=None, root=None):
            names = {"plural": plural, "kind": kind}
            if short:
                names["shortNames"] = short
            return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                    "metadata": {"name": plural + ".example.test"},
                    "spec": {"group": "example.test", "scope": "Namespaced", "names": names, "versions": [{
                        "name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": root or {
                            "type": "object", "properties": {"spec": {"type": "object",
                                                                      "properties": {"size": {"type": "integer"}}}}}}}]}}

        def conds(name, want):
            end = time.monotonic() + 3
            while time.monotonic() < end:
                c = self.req("GET", base + "/" + name)[2]["status"]["conditions"] or []
                got = {x["type"]: x["status"] for x in c}
                if got.get("Established") == want or got.get("NamesAccepted") == "False":
                    return got
                time.sleep(0.02)
            return None
        code, _, obj = self.req("POST", base, crd("sprockets", "Sprocket", ["sp"]))
        self.assertEqual(code, 201, obj)
        self.assertEqual((obj["status"]["conditions"], obj["spec"]["names"]["singular"], obj["spec"]["names"]["listKind"],
                          obj["spec"]["conversion"]), (None, "sprocket", "SprocketList", {"strategy": "None"}))
        self.assertEqual(conds("sprockets.example.test", "True"), {"NamesAccepted": "True", "Established": "True"})
        cr = {"apiVersion": "example.test/v1", "kind": "Sprocket", "metadata": {"name": "s1"}, "spec": {"size": 2}}
        self.assertEqual(self.req("POST", "/apis/example.test/v1/namespaces/ns1/sprockets", cr)[0], 201)
        disco = self.req("GET", "/apis/example.test/v1")[2]
        self.assertIn("sprockets", [r["name"] for r in disco["resources"]])
        # a second CRD with the same shortName: stored, NamesAccepted False, never served
        self.assertEqual(self.req("POST", base, crd("cogwheels", "Cogwheel", ["sp"]))[0], 201)
        self.assertEqual(conds("cogwheels.example.test", "True"), {"NamesAccepted": "False", "Established": "False"})
        self.assertEqual(self.req("GET", "/apis/example.test/v1/namespaces/ns1/cogwheels")[0], 404)
        # an invalid CRD: 422 with the internal path
        bad = crd("nothings", "Nothing", root={"type": "object", "properties": {"metadata": {"type": "object",
                                                                                           "description": "x"}}})
        code, _, st = self.req("POST", base, bad)
        self.assertEqual((code, st["details"]["causes"][0]["field"]), (422, "spec.validation.openAPIV3Schema.properties[metadata]"))
        # DELETE: the CRD and its objects go, the URL stops being served
        self.assertEqual(self.req("DELETE", base + "/sprockets.example.test")[0], 200)
        end = time.monotonic() + 3
        while time.monotonic() < end and self.req("GET", base + "/sprockets.example.test")[0] != 404:
            time.sleep(0.02)
        self.assertEqual(self.req("GET", base + "/sprockets.example.test")[0], 404)
        self.assertEqual(self.req("GET", "/apis/example.test/v1/namespaces/ns1/sprockets")[0], 404)
        self.assertEqual(self.req("DELETE", base + "/cogwheels.example.test")[0], 200)

    # injected 429s carry Retry-After and stop after `count`
    def test_faults_429(self):
        self.req("POST", "/__test/faults", {"status": 429, "count": 2, "retryAfter": 1, "path": "/gizmos"})
        codes = [self.req("GET", "/apis/example.test/v1/namespaces/ns1/gizmos") for _ in range(3)]
        self.assertEqual([c[0] for c in codes], [429, 429, 200])
        self.assertEqual(codes[0][1].get("Retry-After"), "1")
        self.assertEqual(codes[0][2]["reason"], "TooManyRequests")

    # a conflict fault answers the real 409 to a write carrying a resourceVersion
    def test_conflict_fault(self):
        _, _, o = self.req("POST", "/apis/example.test/v1/namespaces/ns1/gizmos", self.widget("c1"))
        self.req("POST", "/__test/faults", {"conflict": 1})
        o["spec"]["size"] = 2
        code, _, st = self.req("PUT", "/apis/example.test/v1/namespaces/ns1/gizmos/c1", o)
        self.assertEqual((code, st["reason"]), (409, "Conflict"))
        code, _, _ = self.req("PUT", "/apis/example.test/v1/namespaces/ns1/gizmos/c1", o)
        self.assertEqual(code, 200)

    # storage writes bypass validation but still bump the RV; the request log records users and verbs
    def test_storage_and_log(self):
        code, _, o = self.req("PUT", "/__test/storage/apis/example.test/v1/namespaces/ns1/gizmos/raw", {"spec": {"size": -5}})
        self.assertEqual(code, 201)
        code, _, got = self.req("GET", "/apis/example.test/v1/namespaces/ns1/gizmos/raw")
        self.assertEqual((code, got["spec"]["size"]), (200, -5))
        self.req("GET", "/apis/example.test/v1/namespaces/ns1/gizmos", token="tok-alice")
        _, _, log = self.req("GET", "/__test/requests")
        self.assertIn({"user": "alice", "verb": "list", "path": "/apis/example.test/v1/namespaces/ns1/gizmos", "code": 403},
                      [{k: e[k] for k in ("user", "verb", "path", "code")} for e in log])
        self.assertEqual(self.req("GET", "/__test/requests", token="tok-alice")[0], 403)

    # the bulk storage write is all or nothing: a malformed item writes none of them
    def test_storage_bulk(self):
        base = "/apis/example.test/v1/namespaces/ns1/gizmos/"
        ok = {"path": base + "bulk-1", "object": {"spec": {"size": 1}}}
        for bad in ({"items": [ok, {"path": "/apis/example.test/v1/namespaces/ns1/gizmos", "object": {}}]},
                    {"items": [ok, {"path": base + "bulk-2", "object": "x"}]},
                    {"items": [ok, 5]}, {"items": "nope"}, [1, 2]):
            code, _, st = self.req("POST", "/__test/storage", bad)
            self.assertEqual(code, 400, bad)
            self.assertEqual(self.req("GET", base + "bulk-1")[0], 404, bad)
        code, _, out = self.req("POST", "/__test/storage", {"items": [ok, {"path": base + "bulk-2", "object": {}}]})
        self.assertEqual((code, out["written"]), (200, 2))
        self.assertEqual(self.req("GET", base + "bulk-2")[0], 200)
        self.assertEqual(self.req("POST", "/__test/storage", {"items": []}, token="tok-alice")[0], 403)

    # ClusterRole aggregation (22): a labelled role reaches edit and admin, not view; a manual edit of an
    # aggregated role is reverted; deleting the source removes its rules
    def test_clusterrole_aggregation(self):
        import time
        base = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
        rule = {"apiGroups": ["example.test"], "resources": ["gizmos"], "verbs": ["create"]}

        def rules(name):
            return self.req("GET", base + "/" + name)[2]["rules"]

        def until(pred):
            deadline = time.time() + 2
            while time.time() < deadline and not pred():
                time.sleep(0.02)
            return pred()
        n_edit, n_admin, n_view = len(rules("edit")), len(rules("admin")), len(rules("view"))
        self.assertEqual((n_edit, n_admin, n_view), (23, 25, 10))   # the recorded bootstrap counts
        code, _, _ = self.req("POST", base, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                             "metadata": {"name": "gizmos-edit", "labels": {
                                                 "rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
                                             "rules": [rule]})
        self.assertEqual(code, 201)
        self.assertTrue(until(lambda: rule in rules("edit") and rule in rules("admin")))
        self.assertNotIn(rule, rules("view"))
        _, _, edit = self.req("GET", base + "/edit")
        edit["rules"] = edit["rules"][:1]
        self.assertEqual(self.req("PUT", base + "/edit", edit)[0], 200)
        self.assertTrue(until(lambda: len(rules("edit")) == n_edit + 1))
        self.assertEqual(self.req("DELETE", base + "/gizmos-edit")[0], 200)
        self.assertTrue(until(lambda: rule not in rules("edit") and rule not in rules("admin")))

    # kubectl's OpenAPI documents: v2 is an (empty) protobuf document, v3 lists group-versions whose
    # PATCH operations declare fieldValidation for their kind
    def test_openapi_for_kubectl(self):
        code, headers, body = self.req("GET", "/openapi/v2")
        self.assertEqual((code, headers.get("Content-Type"), body), (200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", b""))
        code, _, index = self.req("GET", "/openapi/v3")
        url = index["paths"]["apis/example.test/v1"]["serverRelativeURL"]
        code, _, doc = self.req("GET", url)
        self.assertEqual(code, 200)
        item = doc["paths"]["/apis/example.test/v1/namespaces/{namespace}/gizmos/{name}"]["patch"]
        self.assertEqual(item["x-kubernetes-group-version-kind"], {"group": "example.test", "kind": "Gizmo", "version": "v1"})
        self.assertIn("fieldValidation", [p["name"] for p in item["parameters"]])
        self.assertEqual(self.req("GET", "/openapi/v3/apis/nope/v1")[0], 404)

    # client certificates: CN is the user, O the groups
    def test_client_cert(self):
        import tlsfiles
        cert = tlsfiles.client_cert(self.tls, "admin-cert", "cert-admin", ["system:masters"])
        code, _, body = self.req("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                 {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, token=None, cert=cert)
        self.assertEqual(code, 201)
        self.assertEqual(body["status"]["userInfo"]["username"], "cert-admin")
        self.assertIn("system:masters", body["status"]["userInfo"]["groups"])

    # compaction makes an old watch RV answer one ERROR 410 line; dropWatches cuts streams
    def test_compact_and_drop(self):
        import ssl
        import socket
        import time as _t
        _, _, lst = self.req("GET", "/apis/example.test/v1/namespaces/ns1/gizmos")
        old = lst["metadata"]["resourceVersion"]
        self.req("POST", "/apis/example.test/v1/namespaces/ns1/gizmos", self.widget("d1"))
        self.req("POST", "/__test/compact", {})
        raw = self._watch("/apis/example.test/v1/namespaces/ns1/gizmos?watch=1&resourceVersion=" + old, 3)
        self.assertIn(b'"code":410', raw)
        self.assertIn(b'"reason":"Expired"', raw)

    # random faults (a hostile network): each kind does what faults.py says, only to the named user,
    # and GET /__test/faults counts them; a malformed spec is a 400
    def test_random_faults(self):
        import http.client
        import time
        base = "/apis/example.test/v1/namespaces/ns1/gizmos"
        self.addCleanup(lambda: self.req("POST", "/__test/faults", {"random": None}))
        self.assertEqual(self.req("POST", "/__test/faults", {"random": {"rate": 2}})[0], 400)
        self.assertEqual(self.req("POST", "/__test/faults", {"random": {"kinds": ["404"]}})[0], 400)

        def only(kind):
            self.assertEqual(self.req("POST", "/__test/faults", {"random": {"rate": 1, "user": "root", "kinds": [kind],
                                                                              "retryAfter": 3}})[0], 200)
        only("429")
        code, h, st = self.req("GET", base, token="tok-root")
        self.assertEqual((code, h.get("Retry-After"), st["reason"]), (429, "3", "TooManyRequests"))
        self.assertEqual(self.req("GET", base)[0], 200)   # admin: not the faulted user
        only("500")
        self.assertEqual(self.req("GET", base, token="tok-root")[0], 500)
        only("drop")       # nothing written, no answer
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.req("POST", base, self.widget("rf-drop"), token="tok-root")
        self.assertEqual(self.req("GET", base + "/rf-drop")[0], 404)
        only("dropAfter")  # written, but the answer is lost
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.req("POST", base, self.widget("rf-after"), token="tok-root")
        code, _, o = self.req("GET", base + "/rf-after")
        self.assertEqual(code, 200)
        only("409")        # only for writes carrying a resourceVersion: this GET is not faulted
        self.assertEqual(self.req("GET", base + "/rf-after", token="tok-root")[0], 200)
        code, _, st = self.req("PUT", base + "/rf-after", o, token="tok-root")
        self.assertEqual((code, st["reason"]), (409, "Conflict"))
        only("410")
        _, _, lst = self.req("GET", base)
        raw = self._watch(base + "?watch=1&resourceVersion=" + lst["metadata"]["resourceVersion"], 3, token="tok-root")
        self.assertIn(b'"code":410', raw)
        self.assertIn(b"0\r\n\r\n", raw)
        self.req("POST", "/__test/faults", {"random": {"rate": 1, "user": "root", "kinds": ["delay"], "delayMs": 300}})
        t0 = time.monotonic()
        self.assertEqual(self.req("GET", base, token="tok-root")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        _, _, counts = self.req("GET", "/__test/faults")
        self.assertEqual(counts["injected"], {"delay": 1})
        # a rate of 0.1 faults about a tenth of the requests, with the seed's sequence
        self.req("POST", "/__test/faults", {"random": {"rate": 0.1, "user": "root", "kinds": ["500"], "seed": 7}})
        codes = [self.req("GET", base, token="tok-root")[0] for _ in range(200)]
        self.assertTrue(5 <= codes.count(500) <= 40, codes.count(500))
        _, _, log = self.req("GET", "/__test/requests")
        self.assertEqual(sum(1 for e in log if e.get("fault") == "500" and e["user"] == "root"), codes.count(500) + 1)

    # dropWatches cuts an open stream abruptly: no terminating zero-length chunk
    def test_drop_watches(self):
        import threading
        t = threading.Timer(0.4, lambda: self.req("POST", "/__test/faults", {"dropWatches": True}))
        t.start()
        raw = self._watch("/apis/example.test/v1/namespaces/ns1/gizmos?watch=1", 5)
        t.join()
        self.assertTrue(raw.startswith(b"HTTP/1.1 200"), raw[:40])
        self.assertNotIn(b"\r\n0\r\n\r\n", raw)

    def _watch(self, path, secs, token="tok-admin"):
        import socket
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca)
        s = ctx.wrap_socket(socket.create_connection((self.host, int(self.port)), timeout=secs), server_hostname=self.host)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
        data = b""
        try:
            while b"0\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        s.close()
        return data


CRD_YAML = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.test}
spec:
  group: example.test
  scope: Namespaced
  names: {plural: gizmos, singular: gizmo, kind: Gizmo, listKind: GizmoList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer, minimum: 1}}}
          status: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def crd_validation_problems(crd):
    import crd_validation
    return crd_validation.problems_of(crd)


class TokensAndControllers(unittest.TestCase):
    """tokens.py (TokenRequest/TokenReview, sample 23) and controllers.py (--controllers, sample 24)."""

    @classmethod
    def setUpClass(cls):
        start_server(cls, "tas-selftest-ctl-", ["--controllers", "--namespace-deletion-delay", "0.1"])

    # __func__: ServerSmoke.tearDownClass is bound to ServerSmoke, and would stop its server
    # (long gone) instead of this class's, which then outlived the test run.
    tearDownClass = classmethod(ServerSmoke.tearDownClass.__func__)
    req = ServerSmoke.req

    def wait_for(self, fn, timeout=3.0):
        import time
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if fn():
                return True
            time.sleep(0.02)
        return False

    # TokenReview of a good token, a garbage one and one for another audience; the SA token as bearer
    def test_token_review(self):
        self.assertEqual(self.req("POST", "/api/v1/namespaces/ns1/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                                                 "metadata": {"name": "app"}})[0], 201)
        code, _, tr = self.req("POST", "/api/v1/namespaces/ns1/serviceaccounts/app/token",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"audiences": ["keygate.dev"], "expirationSeconds": 600}})
        self.assertEqual(code, 201, tr)
        tok = tr["status"]["token"]

        def review(token, auds=None):
            spec = {"token": token}
            if auds:
                spec["audiences"] = auds
            code, _, out = self.req("POST", "/apis/authentication.k8s.io/v1/tokenreviews",
                                    {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec})
            self.assertEqual(code, 201, out)
            return out["status"]
        st = review(tok, ["keygate.dev"])
        self.assertTrue(st["authenticated"])
        self.assertEqual(st["user"]["username"], "system:serviceaccount:ns1:app")
        self.assertEqual(st["audiences"], ["keygate.dev"])
        self.assertEqual(review("not-a-jwt", ["keygate.dev"]), {"user": {}, "error": "invalid bearer token"})
        self.assertEqual(review(tok, ["other.dev"])["error"], '[invalid bearer token, token audiences ["keygate.dev"] is '
                                                              'invalid for the target audiences ["other.dev"]]')
        self.assertEqual(review(tok[:-6] + "AAAAAA", ["keygate.dev"])["error"],
                         "[invalid bearer token, square/go-jose: error in cryptographic primitive]")
        self.assertEqual(self.req("GET", "/api/v1/namespaces/ns1/pods", token=tok)[0], 401)   # not the API audience
        code, _, tr = self.req("POST", "/api/v1/namespaces/ns1/serviceaccounts/app/token",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}})
        code, _, who = self.req("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}, token=tr["status"]["token"])
        self.assertEqual((code, who["status"]["userInfo"]["username"]), (201, "system:serviceaccount:ns1:app"))
        self.assertEqual(self.req("POST", "/api/v1/namespaces/ns1/serviceaccounts/app/token",
                                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                   "spec": {"expirationSeconds": 599}})[0], 422)

    # namespace deletion with content: finalizer-free content goes, a held object gets deletionTimestamp, the
    # conditions appear, creates are refused; the namespace is gone once the finalizer is removed
    def test_namespace_deletion(self):
        base = "/apis/example.test/v1/namespaces/doomed/gizmos"
        self.assertEqual(self.req("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                 "metadata": {"name": "doomed"}})[0], 201)
        self.assertTrue(self.wait_for(lambda: self.req("GET", "/api/v1/namespaces/doomed/serviceaccounts/default")[0] == 200))
        g = self.widget_obj("keeper")
        g["metadata"]["finalizers"] = ["example.test/hold"]
        self.assertEqual(self.req("POST", base, g)[0], 201)
        self.assertEqual(self.req("POST", base, self.widget_obj("plain"))[0], 201)
        self.assertEqual(self.req("DELETE", "/api/v1/namespaces/doomed")[0], 200)
        self.assertTrue(self.wait_for(lambda: len((self.req("GET", "/api/v1/namespaces/doomed")[2].get("status") or {})
                                                  .get("conditions") or []) == 5))
        ns = self.req("GET", "/api/v1/namespaces/doomed")[2]
        self.assertEqual(ns["status"]["conditions"][3]["message"],
                         "Some resources are remaining: gizmos.example.test has 1 resource instances")
        self.assertEqual(self.req("GET", base + "/plain")[0], 404)
        self.assertEqual(self.req("GET", "/api/v1/namespaces/doomed/serviceaccounts/default")[0], 404)
        keeper = self.req("GET", base + "/keeper")[2]
        self.assertTrue(keeper["metadata"].get("deletionTimestamp"))
        self.assertEqual(keeper["metadata"]["generation"], 2)
        code, _, st = self.req("POST", base, self.widget_obj("late"))
        self.assertEqual((code, st["details"]["causes"][0]["reason"]), (403, "NamespaceTerminating"))
        self.assertEqual(self.req("PATCH", base + "/keeper", {"metadata": {"finalizers": None}},
                                  ctype="application/merge-patch+json")[0], 200)
        self.assertTrue(self.wait_for(lambda: self.req("GET", "/api/v1/namespaces/doomed")[0] == 404))

    # garbage collector: background deletion of a dependent, dangling owner references
    def test_garbage_collector(self):
        base = "/apis/example.test/v1/namespaces/ns1/gizmos"
        code, _, owner = self.req("POST", base, self.widget_obj("owner1"))
        self.assertEqual(code, 201)
        ref = {"apiVersion": "example.test/v1", "kind": "Gizmo", "name": "owner1", "uid": owner["metadata"]["uid"]}
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dep1", "ownerReferences": [ref]}}
        self.assertEqual(self.req("POST", "/api/v1/namespaces/ns1/configmaps", cm)[0], 201)
        bad = dict(cm, metadata={"name": "dangling", "ownerReferences": [dict(ref, uid="11111111-1111-1111-1111-111111111111")]})
        self.assertEqual(self.req("POST", "/api/v1/namespaces/ns1/configmaps", bad)[0], 201)
        self.assertTrue(self.wait_for(lambda: self.req("GET", "/api/v1/namespaces/ns1/configmaps/dangling")[0] == 404))
        self.assertEqual(self.req("GET", "/api/v1/namespaces/ns1/configmaps/dep1")[0], 200)
        self.assertEqual(self.req("DELETE", base + "/owner1")[0], 200)
        self.assertTrue(self.wait_for(lambda: self.req("GET", "/api/v1/namespaces/ns1/configmaps/dep1")[0] == 404))

    def widget_obj(self, name):
        return {"apiVersion": "example.test/v1", "kind": "Gizmo", "metadata": {"name": name}, "spec": {"size": 1}}


class ExitCodes(unittest.TestCase):
    # start-up errors: message on stderr and exit code 2
    def test_bad_tokens(self):
        import subprocess
        res = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py"),
                              "--tokens", "/nonexistent", "--tls-dir", "/tmp/x-never"], capture_output=True, text=True, timeout=20)
        self.assertEqual(res.returncode, 2)
        self.assertIn("testapiserver:", res.stderr)

    # --admission-control-config-file: a missing file, the wrong kind, a plugin without
    # kubeConfigFile or a user with half a client certificate stop the server (exit 2)
    def test_bad_admission_configuration(self):
        import subprocess
        import tempfile
        here = os.path.dirname(os.path.abspath(__file__))
        tmp = tempfile.mkdtemp(prefix="tas-admcfg-")
        tokens = os.path.join(tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('tok-admin,admin,uid-admin,"system:masters"\n')
        kc = os.path.join(tmp, "kc.yaml")
        with open(kc, "w") as fh:
            fh.write("apiVersion: v1\nkind: Config\nusers:\n- name: '*'\n  user: {client-certificate: /nope.crt}\n")
        plugin = ("apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n"
                  "- name: ValidatingAdmissionWebhook\n  configuration:\n"
                  "    apiVersion: apiserver.config.k8s.io/v1\n    kind: WebhookAdmissionConfiguration\n%s")
        cases = {"missing": None,
                 "kind": "apiVersion: v1\nkind: ConfigMap\n",
                 "no kubeconfig": plugin % "",
                 "half a certificate": plugin % ("    kubeConfigFile: %s\n" % kc),
                 "not yaml": "plugins: [\n"}
        for name, text in cases.items():
            path = os.path.join(tmp, "adm-%d.yaml" % len(name))
            if text is not None:
                with open(path, "w") as fh:
                    fh.write(text)
            res = subprocess.run([sys.executable, os.path.join(here, "server.py"), "--tokens", tokens,
                                  "--tls-dir", os.path.join(tmp, "tls"), "--admission-control-config-file", path],
                                 capture_output=True, text=True, timeout=20)
            self.assertEqual(res.returncode, 2, name + ": " + res.stderr)
            self.assertIn("--admission-control-config-file", res.stderr, name)

    # --crd: a CRD the real server rejects (sample 21) stops the server with the real 422 message; the
    # repository's crds/ and the samples' Widget load
    def test_rejected_crds(self):
        import subprocess
        import tempfile
        here = os.path.dirname(os.path.abspath(__file__))
        src = os.path.normpath(os.path.join(here, "..", "..", ".."))
        tmp = tempfile.mkdtemp(prefix="tas-crd-")
        tokens = os.path.join(tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('tok-admin,admin,uid-admin,"system:masters"\n')

        def start(crd_text):
            path = os.path.join(tmp, "crd.yaml")
            with open(path, "w") as fh:
                fh.write(crd_text)
            return subprocess.run([sys.executable, os.path.join(here, "server.py"), "--crd", path, "--tokens", tokens,
                                   "--tls-dir", os.path.join(tmp, "tls")], capture_output=True, text=True, timeout=20)
        import copy
        import yaml
        base = yaml.safe_load(CRD_YAML)
        root = base["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        with_desc = copy.deepcopy(base)
        with_desc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"] = {
            "type": "object", "description": "meta"}
        res = start(yaml.safe_dump(with_desc))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn('CustomResourceDefinition.apiextensions.k8s.io "gizmos.example.test" is invalid: '
                      "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other "
                      "than name and generateName, but metadata is implicitly specified", res.stderr)
        root["properties"]["spec"]["properties"]["import"] = {"type": "string"}
        root["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "!has(self.import)"}]
        res = start(yaml.safe_dump(base))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("compilation failed: ERROR: <input>:1:5: undefined field 'import'", res.stderr)
        root["properties"]["spec"]["x-kubernetes-validations"] = [{"rule": "!has(self.__import__)"}]
        self.assertEqual(crd_validation_problems(base), [])
        import resources
        import crd_validation
        for crd in resources.load_crd_paths([os.path.join(src, "crds"), os.path.join(src, "tests", "fidelity", "samples",
                                                                                     "00-crd-widget.yaml")]):
            self.assertEqual(crd_validation.problems_of(crd), [], crd["metadata"]["name"])
        # a structural-schema error (missing type on an object field) stops the server too
        notype = copy.deepcopy(base)
        notype["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].pop("type")
        res = start(yaml.safe_dump(notype))
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn('"gizmos.example.test" is invalid: spec.validation.openAPIV3Schema.properties[spec].type: '
                      "Required value: must not be empty for specified object fields", res.stderr)

    # the repository's crds/ and the samples' Widget really load: the server starts and serves them as CRDs
    def test_repository_crds_load(self):
        import subprocess
        import tempfile
        here = os.path.dirname(os.path.abspath(__file__))
        src = os.path.normpath(os.path.join(here, "..", "..", ".."))
        tmp = tempfile.mkdtemp(prefix="tas-crdok-")
        tokens = os.path.join(tmp, "tokens.csv")
        with open(tokens, "w") as fh:
            fh.write('tok-admin,admin,uid-admin,"system:masters"\n')
        proc = subprocess.Popen([sys.executable, os.path.join(here, "server.py"), "--crd", os.path.join(src, "crds"),
                                 "--crd", os.path.join(src, "tests", "fidelity", "samples", "00-crd-widget.yaml"),
                                 "--tokens", tokens, "--tls-dir", os.path.join(tmp, "tls")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline().split()
            self.assertTrue(line and line[0] == "READY", (line, proc.stderr.read() if proc.poll() is not None else ""))
            srv = type("S", (), {})()
            srv.host, srv.port = line[1][len("https://"):].rsplit(":", 1)
            srv.ca = line[2]
            code, _, lst = ServerSmoke.req(srv, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            self.assertEqual(code, 200, lst)
            names = sorted(i["metadata"]["name"] for i in lst["items"])
            self.assertIn("widgets.example.test", names)
            self.assertTrue(len([n for n in names if n.endswith(".keygate.dev")]) >= 3, names)
            for item in lst["items"]:
                conds = {c["type"]: c["status"] for c in item["status"]["conditions"]}
                self.assertEqual(conds, {"NamesAccepted": "True", "Established": "True"}, item["metadata"]["name"])
        finally:
            import signal
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__]))
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(0 if failed == 0 else 1)
