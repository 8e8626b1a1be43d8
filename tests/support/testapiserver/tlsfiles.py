"""Test PKI written with the openssl CLI: ca.crt/ca.key and server.crt/server.key (SAN 127.0.0.1, localhost)."""
import os
import subprocess
import tempfile


def _run(args, cwd):
    res = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise RuntimeError("openssl failed: %s\n%s" % (" ".join(args), res.stderr))


def ensure(tls_dir):
    os.makedirs(tls_dir, exist_ok=True)
    ca_crt = os.path.join(tls_dir, "ca.crt")
    ca_key = os.path.join(tls_dir, "ca.key")
    crt = os.path.join(tls_dir, "server.crt")
    key = os.path.join(tls_dir, "server.key")
    if not (os.path.exists(ca_crt) and os.path.exists(ca_key)):
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-subj", "/CN=keygate-test-ca",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], tls_dir)
        for p in (crt, key):
            if os.path.exists(p):
                os.remove(p)
    if not (os.path.exists(crt) and os.path.exists(key)):
        with tempfile.TemporaryDirectory() as tmp:
            csr = os.path.join(tmp, "server.csr")
            ext = os.path.join(tmp, "ext.cnf")
            with open(ext, "w") as fh:
                fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
                         "keyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n")
            _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", key, "-out", csr, "-subj", "/CN=keygate-test-apiserver"], tls_dir)
            _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                  "-out", crt, "-days", "3650", "-extfile", ext], tls_dir)
    for p in (ca_key, key):
        os.chmod(p, 0o600)
    return os.path.abspath(ca_crt), os.path.abspath(crt), os.path.abspath(key)


def client_cert(tls_dir, name, cn, orgs=()):
    """Issues a client certificate signed by the test CA (used by tests; CN -> user, O -> groups)."""
    ca_crt, _, _ = ensure(tls_dir)
    ca_key = os.path.join(tls_dir, "ca.key")
    crt = os.path.join(tls_dir, name + ".crt")
    key = os.path.join(tls_dir, name + ".key")
    subj = "/CN=" + cn + "".join("/O=" + o for o in orgs)
    with tempfile.TemporaryDirectory() as tmp:
        csr = os.path.join(tmp, "c.csr")
        ext = os.path.join(tmp, "ext.cnf")
        with open(ext, "w") as fh:
            fh.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
        _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", subj], tls_dir)
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
              "-out", crt, "-days", "3650", "-extfile", ext], tls_dir)
    return crt, key
