"""Kubernetes `Status` errors, built the way kube-apiserver words them.

Every failure inside the server is raised as ApiError; the HTTP handler turns it into a
Status body whose `code` equals the HTTP status (README: 'Every API error is a Status').
"""


class ApiError(Exception):
    def __init__(self, code, message, reason=None, details=None, headers=None, status_body=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.details = details
        self.headers = headers or []
        self.status_body = status_body  # full override (e.g. 410 with metadata.continue)

    def status(self):
        if self.status_body is not None:
            return self.status_body
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message}
        if self.reason:
            st["reason"] = self.reason
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def _details(name=None, group=None, kind=None, uid=None, causes=None):
    d = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes is not None:
        d["causes"] = causes
    return d


def qualified(plural, group):
    """'widgets.example.test' or 'secrets' for the core group."""
    return plural + "." + group if group else plural


def not_found(plural, group, name):
    return ApiError(404, '%s "%s" not found' % (qualified(plural, group), name), "NotFound",
                    _details(name, group, plural))


def already_exists(plural, group, name):
    return ApiError(409, '%s "%s" already exists' % (qualified(plural, group), name), "AlreadyExists",
                    _details(name, group, plural))


def conflict(plural, group, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, 'Operation cannot be fulfilled on %s "%s": %s' % (qualified(plural, group), name, why),
                    "Conflict", _details(name, group, plural))


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def internal(message, reason=None, causes=None):
    details = None
    if causes is not None:
        details = {"causes": causes}
    return ApiError(500, message, reason, details)


def method_not_allowed(verb, plural, group):
    return ApiError(405, '%s is not supported on resources of kind "%s"' % (verb, qualified(plural, group)),
                    "MethodNotAllowed", _details(None, group, plural))


def unsupported_media(accepted):
    return ApiError(415, "the body of the request was in an unknown format - accepted media types include: " + accepted,
                    "UnsupportedMediaType")


def not_acceptable():
    return ApiError(406, "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
                    "NotAcceptable")


def unauthorized():
    return ApiError(401, "Unauthorized", "Unauthorized")


def cause(reason, message, field=None):
    c = {"reason": reason, "message": message}
    if field is not None:
        c["field"] = field
    return c


def invalid(kind_label, name, group, kind, causes, details_name=True):
    """422 Invalid. kind_label is what precedes the name in the message, e.g. 'Widget.example.test'.

    causes: list of dicts {reason, message, field}. The message lists 'field: message' joined by ', ',
    bracketed when there is more than one (as apimachinery's ToAggregate does).
    """
    parts = []
    for c in causes:
        f = c.get("field")
        parts.append(("%s: %s" % (f, c["message"])) if f else c["message"])
    uniq = []
    for p in parts:  # ToAggregate drops duplicate messages; details.causes keeps them
        if p not in uniq:
            uniq.append(p)
    body = uniq[0] if len(uniq) == 1 else "[" + ", ".join(uniq) + "]"
    msg = '%s "%s" is invalid: %s' % (kind_label, name or "", body)
    return ApiError(422, msg, "Invalid", _details(name if details_name else None, group, kind, causes=causes))


def go_quote(s):
    """Go's %q for a string (close enough: JSON escaping without HTML escapes)."""
    import json
    return json.dumps(s, ensure_ascii=False)
