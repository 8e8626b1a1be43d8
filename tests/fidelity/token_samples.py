"""Sample 23 (ServiceAccount tokens): which token each redacted `<token>` stands for, capture of the tokens the server
issues, the `## decoded JWT` checks, and the clock moves replacing the recorded waits.

Tokens are named in the TokenRequest titles (`[token 'kg600']`); TokenReview titles and bearer-header notes say
which one they use. Issued tokens are kept per session; in responses, the actual token is replaced by the recorded
placeholder before comparing. Waits (`5 s after its exp`, `65 s after`, `t+12s` past the 10 s token cache) are done
with `POST /__test/clock {"advanceSeconds": N}` instead of sleeping.
"""
import base64
import json
import re
import time

import compare

# title keyword -> token name (first match wins; order matters)
REVIEW_TOKENS = [("3607 s pod-bound", "pod3607"), ("p3-bound", "t2pod"), ("pod-bound", "pod"),
                 ("default-audience", "default"), ("alice's static token", "@alice"), ("old temp2 token", "t2"),
                 ("temp2's", "t2"), ("old temp token", "temp"), ("temp's token", "temp"), ("'kg600'", "kg600"),
                 ("keygate.dev token", "kg600"), ("as bob", "kg600"), ("as carol", "kg600"), ("as dave", "kg600"),
                 ("as alice", "kg600")]
BEARER = [("default audience", "default"), ("audience keygate.dev", "kg600")]
BROKEN = "<the keygate.dev token with the last 6 signature characters replaced>"


class Tokens:
    def __init__(self):
        self.issued = {}
        self.claims = {}

    def value(self, name):
        import harness
        if name == "@alice":
            return harness.TOKENS["alice"]
        return self.issued.get(name)

    def for_review(self, title):
        for key, name in REVIEW_TOKENS:
            if key in title:
                return name
        return None

    def prepare(self, b, req, body):
        """Returns (body, headers override, placeholder->actual) for one request."""
        subst = {}
        if BROKEN in body:
            tok = self.issued["kg600"]
            broken = tok[:-6] + ("AAAAAA" if not tok.endswith("AAAAAA") else "BBBBBB")
            subst[BROKEN] = broken
        elif '"<token>"' in body:
            name = self.for_review(b.title)
            if name and self.value(name):
                subst["<token>"] = self.value(name)
        for k, v in subst.items():
            body = body.replace('"%s"' % k, json.dumps(v))
        auth = None
        if req.user and req.user.startswith("!") and "ServiceAccount" in req.user:
            for key, name in BEARER:
                if key in req.user:
                    auth = self.value(name)
        return body, auth, subst

    def after(self, b, act_obj, subst, errors):
        """Captures an issued token, masks tokens in the response, checks the decoded-JWT notes."""
        m = re.search(r"\[token '(\w+)'\]", b.title)
        if isinstance(act_obj, dict):
            st = act_obj.get("status")
            if isinstance(st, dict) and isinstance(st.get("error"), str):
                inv = {a: r for r, a in self.mapper.uid.items()}   # our uids -> the recorded ones (mapping checked)
                st["error"] = compare.UUID.sub(lambda mm: inv.get(mm.group(0), "<unmapped uid %s>" % mm.group(0)), st["error"])
            if isinstance(st, dict) and isinstance(st.get("token"), str) and st["token"] not in ("<token>",):
                if m:
                    self.issued[m.group(1)] = st["token"]
                    self.check_decoded(b, m.group(1), errors)
                st["token"] = "<token>"
            sp = act_obj.get("spec")
            if isinstance(sp, dict) and isinstance(sp.get("token"), str):
                for k, v in subst.items():
                    if sp["token"] == v:
                        sp["token"] = k
        return act_obj

    def check_decoded(self, b, name, errors):
        notes = [l for n, ls in b.sections if n == "##" for l in ls]
        header = next((l[len("header: "):] for l in notes if l.startswith("header: ")), None)
        claims_text = "\n".join(l[len("claims: "):] for l in notes if l.startswith("claims: "))
        if not header or not claims_text:
            return
        tok = self.issued[name]
        h, c, _ = tok.split(".")
        dec = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        ah, ac = dec(h), dec(c)
        rh, rc = json.loads(header), json.loads(claims_text)
        if list(ah) != list(rh) or ah.get("alg") != rh.get("alg") or len(ah.get("kid", "")) != len(rh.get("kid", "")):
            errors.append("JWT header %s != recorded %s" % (ah, rh))
        self.claims[name] = ac

        def rel(cl):
            cl = json.loads(json.dumps(cl))
            iat = cl.get("iat", 0)
            for k in ("exp", "nbf"):
                if k in cl:
                    cl[k] = cl[k] - iat
            k8s = cl.get("kubernetes.io") or {}
            if "warnafter" in k8s:
                k8s["warnafter"] -= iat
            cl["iat"] = 0
            return cl
        cmp = compare.Comparer(self.mapper)
        cmp.cmp(_sorted(rel(rc)), _sorted(rel(ac)), "jwt")
        errors.extend("decoded JWT: " + e for e in cmp.errors)

    # ---- clock moves (before hooks keyed by title) ----
    def advance_to_exp(self, srv, delta):
        exp = self.claims["kg600"]["exp"]
        code, st = srv.call("POST", "/__test/clock", {"advanceSeconds": 0})
        now = time.time() + st["offsetSeconds"]
        srv.call("POST", "/__test/clock", {"advanceSeconds": exp + delta - now})


def _sorted(v):
    if isinstance(v, dict):
        return {k: _sorted(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [_sorted(x) for x in v]
    return v
