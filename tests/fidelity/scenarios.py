"""Per-sample knowledge the recordings only describe in prose: setup steps ('## Setup: ...'),
the actions another client performed during watches, and server knobs that replace wall-clock time."""
import time

NS_AB = ["default", "kube-system", "keygate-system", "tenant-a", "tenant-b"]
W = "/apis/example.test/v1/namespaces/tenant-a/widgets"


def _bind_current(h, m, rec):
    m.bind_rv(rec, h.current_rv())


# ---- setups keyed by file, run before the first block -----------------------------------------

def setup_03(h, m):
    h.widget("tenant-a", "alpha", labels={"app": "demo", "tier": "front"})
    h.widget("tenant-a", "bravo", labels={"app": "demo", "tier": "back"})
    h.widget("tenant-a", "charlie", labels={"app": "other"})
    h.widget("tenant-b", "delta", labels={"app": "demo"})


def setup_04(h, m):
    o = h.widget("tenant-a", "w1")
    m.bind_rv("254", o["metadata"]["resourceVersion"])


def setup_05(h, m):
    h.widget("tenant-a", "g1")
    o = h.merge("tenant-a", "g1", {"status": {"phase": "Ready", "observedGeneration": 1}}, "status")
    m.bind_rv("1053", o["metadata"]["resourceVersion"])


def setup_06(h, m):
    o = h.widget("tenant-a", "s1")
    m.bind_rv("269", o["metadata"]["resourceVersion"])


def setup_07(h, m):
    o = h.widget("tenant-a", "p1", labels={"app": "demo", "tier": "front"})
    m.bind_rv("303", o["metadata"]["resourceVersion"])


def setup_10a(h, m):
    _bind_current(h, m, "406")


def setup_10b(h, m):
    h.widget("tenant-a", "t1")
    _bind_current(h, m, "460")


def setup_10c(h, m):
    h.widget("tenant-a", "old1")
    h.merge("tenant-a", "old1", {"spec": {"size": 9}})
    h.compact()
    cur = int(h.current_rv())
    m.bind_rv("1624", str(cur + 1000))
    m.bind_rv("150", "2")
    m.bind_rv("1", "1")


def setup_10d(h, m):
    h.widget("tenant-a", "l1", labels={"app": "demo"})
    h.widget("tenant-a", "l2", labels={"app": "other"})
    _bind_current(h, m, "669")


def setup_10e(h, m):
    h.widget("tenant-a", "e2")
    h.widget("tenant-a", "e1")
    h.merge("tenant-a", "e1", {"spec": {"size": 4}})
    _bind_current(h, m, "971")


def setup_14(h, m):
    o = h.widget("tenant-a", "ev1")
    m.bind_uid("6b1cc1cb-2fce-4610-9e13-f978121e5a82", o["metadata"]["uid"])
    # objects left over from an earlier run of the recording script (the samples show 409 for them)
    code, _ = h.call("POST", "/apis/events.k8s.io/v1/namespaces/tenant-a/events", {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "ev1.e4"},
        "eventTime": "2026-11-23T11:30:00.000000Z", "reportingController": "example.test/widget-controller",
        "reportingInstance": "widget-controller-0", "action": "Resize", "reason": "Resized", "type": "Normal",
        "note": "size changed from 3 to 4", "regarding": {"kind": "Widget", "name": "ev1", "namespace": "tenant-b"}})
    assert code == 201, code
    code, _ = h.call("POST", "/api/v1/namespaces/tenant-a/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev1.bad3"},
        "involvedObject": {"namespace": "tenant-a"}, "type": "Info"})
    assert code == 201, code


def setup_16(h, m):
    o = h.widget("tenant-a", "owner1")
    m.bind_uid("c1fc827f-a0c5-48c6-99b1-b0256849ba4f", o["metadata"]["uid"])


def setup_18(h, m):
    h.widget("tenant-a", "tb1", labels={"app": "demo"})
    h.merge("tenant-a", "tb1", {"status": {"phase": "Ready"}}, "status")
    h.widget("tenant-a", "tb2", size=7, color="blue")


def setup_19(h, m):
    h.namespace("paging")
    for i in range(1, 6):
        h.widget("paging", "p%d" % i)


# ---- '## Setup:' annotations met in the middle of a file ---------------------------------------

def ann_08_v6(h, m):
    o = h.widget("tenant-a", "v6")
    m.bind_rv("336", o["metadata"]["resourceVersion"])   # the RV the recorded PUT carries


def ann_08_v7(h, m):
    h.widget("tenant-a", "v7", spec={"size": 3, "color": "red"})


def ann_09_f2(h, m):
    h.widget("tenant-a", "f2")


def ann_09_f3(h, m):
    for n in ("f3", "f4", "f5"):
        h.widget("tenant-a", n)
    for n in ("f6", "f7"):
        h.widget("tenant-a", n, labels={"batch": "yes"})


def ann_17b(h, m):
    h.widget("doomed-bmry", "inside")


def before_19_expired(h, m):
    # stands in for '~3 minutes later, after >= 2 etcd compactions' (p5 was being patched meanwhile)
    h.merge("paging", "p5", {"spec": {"size": 4}})
    h.compact()


# ---- watch scripts: actions another client performed while the watch was open -----------------

def act_10a(h, streams):
    time.sleep(0.2)
    h.widget("tenant-a", "wa", labels={"app": "demo"})
    h.merge("tenant-a", "wa", {"spec": {"size": 5}})
    h.merge("tenant-a", "wa", {"status": {"phase": "Ready"}}, "status")
    time.sleep(1.1)   # the recorded managedFields order depends on the two entries' times differing
    h.merge("tenant-a", "wa", {"metadata": {"labels": {"tier": "x"}}})
    h.widget("tenant-a", "wb", finalizers=["example.test/cleanup"])
    h.delete("tenant-a", "wb")
    h.merge("tenant-a", "wb", {"metadata": {"finalizers": None}})
    h.delete("tenant-a", "wa")
    h.widget("tenant-b", "wc")
    h.widget("tenant-a", "wd")
    h.merge("tenant-a", "wd", {"spec": {"size": 3}})   # no-op: no event
    _sleep_until(streams[0], 3.6)                      # one bookmark (interval 3 s) arrives here
    h.merge("tenant-a", "wd", {"spec": {"size": 6}})
    time.sleep(0.5)
    for s in streams:
        s.stop()


def _sleep_until(stream, t):
    d = t - (time.monotonic() - stream.t0)
    if d > 0:
        time.sleep(d)


def act_10b_1(h, streams):
    time.sleep(1.0)
    h.merge("tenant-a", "t1", {"spec": {"size": 4}})


def act_10b_3(h, streams):
    time.sleep(1.0)
    h.merge("tenant-a", "t1", {"spec": {"size": 5}})


def act_10b_4(h, streams):
    time.sleep(1.5)
    streams[0].stop_check = not streams[0].resp.ended
    streams[0].stop()


def act_10c_future(h, streams):
    time.sleep(0.5)
    h.merge("tenant-a", "old1", {"metadata": {"annotations": {"x": "1"}}})
    h.merge("tenant-a", "old1", {"metadata": {"annotations": {"x": None}}})   # leaves old1 as the later LISTs expect
    time.sleep(1.0)
    streams[0].stop_check = not streams[0].resp.ended
    streams[0].stop()


def act_10d_1(h, streams):
    time.sleep(0.3)
    h.merge("tenant-a", "l1", {"spec": {"size": 4}})
    h.merge("tenant-a", "l1", {"metadata": {"labels": {"app": "gone"}}})
    h.merge("tenant-a", "l1", {"spec": {"size": 5}})
    h.merge("tenant-a", "l2", {"metadata": {"labels": {"app": "demo"}}})
    h.delete("tenant-a", "l1")
    h.delete("tenant-a", "l2")
    time.sleep(0.3)
    streams[0].stop()


def before_10d_2(h, m):
    h.widget("tenant-a", "n1")
    h.widget("tenant-a", "n2")
    _bind_current(h, m, "679")


def act_10d_2(h, streams):
    time.sleep(0.3)
    h.merge("tenant-a", "n2", {"spec": {"size": 4}})
    h.merge("tenant-a", "n1", {"spec": {"size": 4}})
    h.delete("tenant-a", "n1")
    time.sleep(0.3)
    streams[0].stop()


def _touch(value):
    def act(h, streams):
        time.sleep(0.4)
        h.merge("tenant-a", "e2", {"metadata": {"annotations": {"touch": value}}})
        time.sleep(0.4)
        streams[0].stop()
    return act


def _touch_no_stop(value):
    def act(h, streams):
        time.sleep(0.5)
        h.merge("tenant-a", "e2", {"metadata": {"annotations": {"touch": value}}})
    return act


CONFIG = {
    "01-discovery.txt": {},
    "02-create.txt": {},
    "03-get-list.txt": {"setup": setup_03},
    "04-update-put.txt": {"setup": setup_04},
    "05-generation.txt": {"setup": setup_05},
    "06-status-subresource.txt": {"setup": setup_06},
    "07-patch-and-apply.txt": {"setup": setup_07},
    "08-validation.txt": {"annotations": {"created tenant-a/v6": ann_08_v6, "created tenant-a/v7": ann_08_v7}},
    "09-finalizers-deletion.txt": {"annotations": {"created tenant-a/f2": ann_09_f2, "created tenant-a/f3": ann_09_f3}},
    "10a-watch-stream.txt": {"setup": setup_10a, "args": ["--bookmark-interval", "3"], "parallel": True,
                             "watch": {"": act_10a}},
    "10b-watch-timeout.txt": {"setup": setup_10b,
                              "watch": {"a merge patch of t1 was made at t+1s": act_10b_1,
                                        "curl --raw": act_10b_3, "timeoutSeconds=0": act_10b_4},
                              "bind_current": {"no Widget writes": "463", "curl --raw": "464"}},
    "10c-watch-too-old-rv.txt": {"setup": setup_10c, "watch": {"1000 ahead": act_10c_future}},
    "10d-watch-label-selector.txt": {"setup": setup_10d, "before": {"fieldSelector=metadata.name=n1": before_10d_2},
                                     "watch": {"labelSelector=app=demo": act_10d_1, "fieldSelector": act_10d_2}},
    "10e-watch-initial-events.txt": {"setup": setup_10e,
                                     "watch": {"watch resourceVersion=0;": _touch("1795433173.521645"),
                                               "watch no resourceVersion": _touch("1795433176.073032"),
                                               "resourceVersion=971": _touch("1795433178.6323817"),
                                               "allowWatchBookmarks=true&timeoutSeconds=4": _touch_no_stop("1795433181.1851926")}},
    "11-auth.txt": {},
    "12a-admission-webhook-requests.txt": {"webhook": True},
    "13-lease.txt": {},
    "14-events.txt": {"setup": setup_14},
    "15-secret.txt": {},
    "16-rbac-ownerrefs.txt": {"setup": setup_16},
    "17-namespaces.txt": {"namespaces": ["default", "kube-system", "keygate-system"]},
    "17b-namespace-terminating.txt": {"annotations": {"created Widget doomed-bmry/inside": ann_17b}},
    "18-table-printer-columns.txt": {"setup": setup_18},
    "19-continue-token-expired.txt": {"setup": setup_19, "before": {"used again at t=202s": before_19_expired}},
    "20-protobuf-and-crs.txt": {"setup": setup_18},
}

# 12a-12c are one recording session against the same objects and webhooks
SESSIONS = [["01-discovery.txt"], ["02-create.txt"], ["03-get-list.txt"], ["04-update-put.txt"], ["05-generation.txt"],
            ["06-status-subresource.txt"], ["07-patch-and-apply.txt"], ["08-validation.txt"],
            ["09-finalizers-deletion.txt"], ["10a-watch-stream.txt"], ["10b-watch-timeout.txt"],
            ["10c-watch-too-old-rv.txt"], ["10d-watch-label-selector.txt"], ["10e-watch-initial-events.txt"],
            ["11-auth.txt"],
            ["12a-admission-webhook-requests.txt", "12b-admission-webhook-update-status.txt",
             "12c-admission-webhook-status-deny-down.txt"],
            ["13-lease.txt"], ["14-events.txt"], ["15-secret.txt"], ["16-rbac-ownerrefs.txt"], ["17-namespaces.txt"],
            ["17b-namespace-terminating.txt"], ["18-table-printer-columns.txt"], ["19-continue-token-expired.txt"],
            ["20-protobuf-and-crs.txt"]]

# Checks we cannot replay faithfully, with the reason (reported as SKIP, never as pass).
SKIP = {}

import extra_samples  # noqa: E402  22-24: kubectl blocks, ServiceAccount tokens, controllers
CONFIG.update(extra_samples.CONFIG)
SESSIONS += extra_samples.SESSIONS

import crd_samples  # noqa: E402  21: CRD create/update validation, custom resources of each accepted CRD
CONFIG.update(crd_samples.CONFIG)
SESSIONS += crd_samples.SESSIONS
