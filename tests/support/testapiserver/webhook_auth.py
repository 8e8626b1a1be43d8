"""--admission-control-config-file: how kube-apiserver authenticates itself to admission webhooks.

The file is an AdmissionConfiguration (apiserver.config.k8s.io/v1; apiserver.k8s.io/v1alpha1 is
accepted too) whose ValidatingAdmissionWebhook / MutatingAdmissionWebhook plugin entries carry a
WebhookAdmissionConfiguration (kind WebhookAdmission is the same type) naming a kubeconfig. Each
kubeconfig user entry is keyed by the webhook's address; what we rely on, from
k8s.io/apiserver/pkg/admission/plugin/webhook/config/authentication.go (v1.28):

- target: for clientConfig.url, the URL's host:port (port 443 when the URL has none); for
  clientConfig.service, "<name>.<namespace>.svc:<port>".
- lookup order: exact target; "*." + each shorter dot-suffix of the target; when the target's
  port is 443, the same two without the port; finally "*". No entry: no credentials.
- a user entry may give client-certificate/client-key (paths, relative to the kubeconfig's
  directory) or client-certificate-data/client-key-data (base64 PEM), and/or token / tokenFile
  (sent as "Authorization: Bearer").
"""
import base64
import os
import tempfile

import wire

_PLUGINS = {"ValidatingAdmissionWebhook": False, "MutatingAdmissionWebhook": True}


class ConfigError(Exception):
    pass


def _yaml(path):
    with open(path, encoding="utf-8") as f:
        return wire.parse_yaml(f.read())


class Credentials:
    def __init__(self, cert_file=None, key_file=None, token=None):
        self.cert_file = cert_file
        self.key_file = key_file
        self.token = token


def _load_user(name, user, base, tmpdir):
    user = user or {}
    cert = key = None
    if user.get("client-certificate-data") or user.get("client-key-data"):
        cert = os.path.join(tmpdir, "%d.crt" % id(user))
        key = os.path.join(tmpdir, "%d.key" % id(user))
        with open(cert, "wb") as f:
            f.write(base64.b64decode(user.get("client-certificate-data") or ""))
        with open(key, "wb") as f:
            f.write(base64.b64decode(user.get("client-key-data") or ""))
    elif user.get("client-certificate") or user.get("client-key"):
        cert = os.path.join(base, user.get("client-certificate") or "")
        key = os.path.join(base, user.get("client-key") or "")
    if bool(cert) != bool(key) or (cert and not (os.path.isfile(cert) and os.path.isfile(key))):
        raise ConfigError("user %r: client-certificate and client-key must both be given and readable" % name)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        with open(os.path.join(base, user["tokenFile"]), encoding="utf-8") as f:
            token = f.read().strip()
    return Credentials(cert, key, token)


def load(path):
    """{mutating(bool): {name: Credentials}} from an AdmissionConfiguration file."""
    cfg = _yaml(path)
    if not isinstance(cfg, dict) or cfg.get("kind") != "AdmissionConfiguration":
        raise ConfigError("%s: not an AdmissionConfiguration" % path)
    if cfg.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "apiserver.k8s.io/v1alpha1"):
        raise ConfigError("%s: unsupported apiVersion %r" % (path, cfg.get("apiVersion")))
    tmpdir = tempfile.mkdtemp(prefix="webhook-auth-")
    out = {}
    for plugin in cfg.get("plugins") or []:
        mutating = _PLUGINS.get(plugin.get("name"))
        if mutating is None:
            continue
        conf = plugin.get("configuration")
        if conf is None and plugin.get("path"):
            conf = _yaml(os.path.join(os.path.dirname(path), plugin["path"]))
        if not isinstance(conf, dict) or conf.get("kind") not in ("WebhookAdmissionConfiguration", "WebhookAdmission"):
            raise ConfigError("%s: plugin %s: expected a WebhookAdmissionConfiguration" % (path, plugin.get("name")))
        kc_path = conf.get("kubeConfigFile")
        if not kc_path:
            raise ConfigError("%s: plugin %s: kubeConfigFile is required" % (path, plugin.get("name")))
        kc = _yaml(kc_path)
        base = os.path.dirname(os.path.abspath(kc_path))
        users = {}
        for u in (kc or {}).get("users") or []:
            users[u.get("name")] = _load_user(u.get("name"), u.get("user"), base, tmpdir)
        out[mutating] = users
    return out


def _exact_or_star(users, name):
    if name in users:
        return users[name]
    steps = name.split(".")
    for i in range(1, len(steps)):
        nick = "*." + ".".join(steps[i:])
        if nick in users:
            return users[nick]
    return None


def _lookup(users, target):
    found = _exact_or_star(users, target)
    if found is not None:
        return found
    host, sep, port = target.rpartition(":")
    if sep and port == "443":
        found = _exact_or_star(users, host)
        if found is not None:
            return found
    return users.get("*")


def target_for(client_config, parsed_url):
    svc = client_config.get("service")
    if not client_config.get("url") and svc:
        return "%s.%s.svc:%s" % (svc.get("name"), svc.get("namespace"), svc.get("port", 443))
    return "%s:%d" % (parsed_url.hostname, parsed_url.port or 443)


def credentials(config, mutating, target):
    """The Credentials kube-apiserver would present to `target`, or None."""
    users = (config or {}).get(mutating)
    if not users:
        return None
    return _lookup(users, target)
