// Informer memory and cold-sync figures at scale (issue 17): for each informer the
// operator runs, N objects spread over 1,000 namespaces are listed (500 per page, as the
// reflector asks) from an in-process client that serves realistic objects — what a real
// kube-apiserver returns for objects written by `kubectl apply` and the operator:
// managedFields, kubectl's last-applied-configuration, finalizers, conditions, approvals.
// Each measurement runs in its own forked process so freed memory of one does not hide
// the cost of the next.
//
// Usage: scale_bench [N...]   (default: 10000 100000). Prints a table; asserts nothing on time.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "controllers/indexes.h"
#include "kube/client.h"
#include "kube/informer.h"
#include "kube/resource.h"

namespace {

using namespace keygate;
using clock_type = std::chrono::steady_clock;
constexpr int kNamespaces = 1000;

long rssKiB() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

std::string pad(int i, int width) {
  std::string s = std::to_string(i);
  return std::string(width > static_cast<int>(s.size()) ? width - s.size() : 0, '0') + s;
}

// Random where real objects are random (uids, signatures, check values), so packing is not
// flattered by objects that differ only in a counter.
std::string randomHex(std::mt19937& rng, int n) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (int k = 0; k < n; ++k) s += kHex[rng() % 16];
  return s;
}
std::string uid(int i) {
  std::mt19937 rng(static_cast<unsigned>(i) * 2654435761u);
  return randomHex(rng, 8) + "-" + randomHex(rng, 4) + "-4" + randomHex(rng, 3) + "-" + randomHex(rng, 4) + "-" +
         randomHex(rng, 12);
}
std::string base64(std::mt19937& rng, int n) {
  static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (int k = 0; k < n; ++k) s += kB64[rng() % 64];
  return s;
}
// A time within 2026, different for every object and step.
std::string at(int i, int step) {
  long t = 1767225600L + (static_cast<long>(i) * 7919L) % 28000000L + step * 3607L;
  std::time_t tt = t;
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}
std::string ns(int i) { return "tenant-" + pad(i % kNamespaces, 4); }

Json managedFields(const std::string& applyManager, const Json& applied, const std::string& statusManager) {
  return Json::array(
      {{{"apiVersion", "keygate.dev/v1alpha1"},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1",
         {{"f:metadata", {{"f:annotations", {{".", Json::object()}, {"f:kubectl.kubernetes.io/last-applied-configuration", Json::object()}}},
                          {"f:labels", {{".", Json::object()}, {"f:app.kubernetes.io/part-of", Json::object()}}}}},
          {"f:spec", applied}}},
        {"manager", applyManager},
        {"operation", "Update"},
        {"time", "2026-11-23T11:25:38Z"}},
       {{"apiVersion", "keygate.dev/v1alpha1"},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1", {{"f:status", {{".", Json::object()}, {"f:state", Json::object()}, {"f:versions", Json::object()},
                                    {"f:conditions", Json::object()}, {"f:currentVersion", Json::object()}}}}},
        {"manager", statusManager},
        {"operation", "Update"},
        {"subresource", "status"},
        {"time", "2026-11-23T11:25:41Z"}}});
}

Json meta(const std::string& kind, int i, const std::string& name, const Json& spec) {
  Json lastApplied = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", kind},
                      {"metadata", {{"name", name}, {"namespace", ns(i)}, {"labels", {{"app.kubernetes.io/part-of", "model-serving"}}}}},
                      {"spec", spec}};
  Json fieldsSpec = Json::object();
  for (const auto& [k, _] : spec.items()) fieldsSpec["f:" + k] = Json::object();
  return {{"name", name},
          {"namespace", ns(i)},
          {"uid", uid(i)},
          {"resourceVersion", std::to_string(100000 + i)},
          {"generation", 1},
          {"creationTimestamp", at(i, 0)},
          {"labels", {{"app.kubernetes.io/part-of", "model-serving"}}},
          {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", dumpJson(lastApplied) + "\n"},
                           {"keygate.dev/created-by", "erin"}}},
          {"managedFields", managedFields("kubectl-client-side-apply", fieldsSpec, "keygate")}};
}

Json encryptionKey(int i) {
  std::string name = "key-" + pad(i, 6);
  static const char* kinds[][2] = {{"Encrypt", "AES-256"}, {"Sign", "EC-P256"}, {"MAC", "HMAC-SHA256"}, {"Encrypt", "RSA-3072"}};
  const auto& pa = kinds[i % 4];
  Json spec = {{"purpose", pa[0]},
               {"algorithm", pa[1]},
               {"backend", i % 5 == 0 ? "kmip" : "softhsm"},
               {"activation", {{"requiredApprovals", 2}, {"preActiveTTL", "168h"}}},
               {"rotation", {{"period", "2160h"}}},
               {"affectedSystems", {"model-store", "inference-gateway"}}};
  Json o = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "EncryptionKey"}, {"metadata", meta("EncryptionKey", i, name, spec)},
            {"spec", spec}};
  o["metadata"]["finalizers"] = {"keygate.dev/backend-cleanup"};
  // A mix of lives: PreActive, Active, rotated (v1 Deactivated, v2 Active), Deactivated.
  std::mt19937 rng(static_cast<unsigned>(i) + 17u);
  int phase = i % 4;
  int versions = phase == 2 ? 2 : 1;
  Json vs = Json::array();
  for (int v = 1; v <= versions; ++v) {
    std::string state = phase == 0 ? "PreActive" : (phase == 3 || v < versions) ? "Deactivated" : "Active";
    Json ver = {{"version", v}, {"state", state}, {"backendKeyId", "kg-" + uid(i) + "-" + std::to_string(v)},
                {"createdAt", at(i, 1 + 10 * v)}, {"kcv", randomHex(rng, 6)}};
    if (state != "PreActive") ver["activatedAt"] = at(i, 2 + 10 * v);
    if (state == "Deactivated") ver["deactivatedAt"] = at(i, 9 + 10 * v);
    vs.push_back(ver);
  }
  std::string state = vs.back()["state"];
  o["status"] = {
      {"state", state},
      {"observedGeneration", 1},
      {"currentVersion", versions},
      {"versions", vs},
      {"conditions",
       {{{"type", "Ready"}, {"status", phase == 0 ? "False" : "True"}, {"reason", state},
         {"message", "version " + std::to_string(versions) + " is " + state}, {"lastTransitionTime", at(i, 12)},
         {"observedGeneration", 1}},
        {{"type", "Reconciling"}, {"status", "False"}, {"reason", "Settled"}, {"message", ""},
         {"lastTransitionTime", at(i, 12)}, {"observedGeneration", 1}}}}};
  if (phase == 0) o["status"]["preActiveExpiresAt"] = at(i, 170);
  else o["status"]["activatedBy"] = {{"request", name + "-activate"}, {"approvers", {"bob", "carol"}}};
  return o;
}

Json activationRequest(int i) {
  std::string name = "key-" + pad(i, 6) + "-activate";
  Json spec = {{"keyRef", {{"name", "key-" + pad(i, 6)}}}, {"version", 1}, {"reason", "go-live of the model store, change CHG-4711"}};
  Json o = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "KeyActivationRequest"},
            {"metadata", meta("KeyActivationRequest", i, name, spec)}, {"spec", spec}};
  std::mt19937 rng(static_cast<unsigned>(i) + 29u);
  auto approval = [&](const char* who, int step) {
    return Json{{"approver", who}, {"approvedAt", at(i, step)}, {"signature", base64(rng, 86) + "=="},
                {"keyId", "approvals-2026-11"}};
  };
  o["status"] = {{"phase", "Approved"}, {"requester", "alice"}, {"approvals", {approval("bob", 20), approval("carol", 21)}},
                 {"conditions", {{{"type", "Approved"}, {"status", "True"}, {"reason", "QuorumReached"},
                                  {"message", "2 of 2 approvals"}, {"lastTransitionTime", at(i, 21)}}}}};
  return o;
}

Json roleBinding(int i) {
  std::string name = "users-" + pad(i, 6);
  Json spec = {{"role", "KeyUser"},
               {"subjects", {{{"kind", "ServiceAccount"}, {"name", "inference"}, {"namespace", ns(i)}},
                             {{"kind", "Group"}, {"name", "ml-platform"}}}},
               {"keySelector", {{"matchLabels", {{"app.kubernetes.io/part-of", "model-serving"}}}}},
               {"reviewBy", "2027-06-30"}};
  Json o = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "KeyRoleBinding"}, {"metadata", meta("KeyRoleBinding", i, name, spec)},
            {"spec", spec}};
  o["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "True"}, {"reason", "Bound"}, {"message", ""},
                                  {"lastTransitionTime", at(i, 1)}}}}};
  return o;
}

Json namespaceObject(int i) {
  Json o = {{"apiVersion", "v1"}, {"kind", "Namespace"},
            {"metadata", {{"name", "tenant-" + pad(i, 6)}, {"uid", uid(i)}, {"resourceVersion", std::to_string(100000 + i)},
                          {"creationTimestamp", at(i, 0)},
                          {"labels", {{"kubernetes.io/metadata.name", "tenant-" + pad(i, 6)}, {"keygate.dev/jurisdiction", "eu"}}}}},
            {"spec", {{"finalizers", {"kubernetes"}}}},
            {"status", {{"phase", "Active"}}}};
  o["metadata"]["managedFields"] = managedFields("kubectl-create", Json::object(), "kube-controller-manager");
  return o;
}

struct Kind {
  const char* name;
  kube::Resource resource;
  Json (*make)(int);
};

// Serves list pages, rendered before the clock starts, parsed from JSON text as RestClient
// does with a response body; a watch that only waits.
class PagedClient : public kube::Client {
 public:
  static constexpr int kPage = 500;  // the reflector's page size
  PagedClient(const Kind& k, int n) {
    for (int from = 0; from < n; from += kPage) {
      int to = std::min(n, from + kPage);
      std::string body = R"({"apiVersion":"keygate.dev/v1alpha1","kind":"List","metadata":{"resourceVersion":"999999")";
      if (to < n) body += R"(,"continue":")" + std::to_string(to) + "\"";
      body += R"(},"items":[)";
      for (int i = from; i < to; ++i) {
        if (i > from) body += ',';
        body += dumpJson(k.make(i));
      }
      body += "]}";
      pages_.push_back(std::move(body));
    }
  }
  Result<Json> list(const kube::Resource&, const std::string&, const kube::ListOptions& o) override {
    int from = o.continueToken.empty() ? 0 : std::atoi(o.continueToken.c_str());
    if (o.limit != kPage || from % kPage != 0 || from / kPage >= static_cast<int>(pages_.size()))
      return makeError(ErrorCode::kInvalidArgument, "unexpected list request");
    return parseJson(pages_[from / kPage]);
  }
  // Parsing every page alone: the part of a sync that is the JSON text, not the informer.
  double parseSeconds() const {
    auto t = clock_type::now();
    for (const auto& p : pages_) (void)parseJson(p);
    return std::chrono::duration<double>(clock_type::now() - t).count();
  }
  Result<kube::WatchStreamPtr> watch(const kube::Resource&, const std::string&, const kube::WatchOptions&) override {
    struct Idle : kube::WatchStream {
      Result<kube::WatchEvent> next() override {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return makeError(ErrorCode::kUnavailable, "idle");
      }
      void cancel() override {}
    };
    return kube::WatchStreamPtr(std::make_unique<Idle>());
  }
  Result<Json> get(const kube::Resource&, const std::string&, const std::string&, const std::string&) override { return no(); }
  Result<Json> create(const kube::Resource&, const std::string&, const Json&) override { return no(); }
  Result<Json> update(const kube::Resource&, const std::string&, const Json&, const std::string&) override { return no(); }
  Result<Json> patch(const kube::Resource&, const std::string&, const std::string&, kube::PatchType, const std::string&,
                     const kube::PatchOptions&) override {
    return no();
  }
  Result<kube::DeleteResult> remove(const kube::Resource&, const std::string&, const std::string&,
                                    const kube::DeleteOptions&) override {
    return makeError(ErrorCode::kUnimplemented, "bench");
  }
 private:
  static Error no() { return makeError(ErrorCode::kUnimplemented, "bench"); }
  std::vector<std::string> pages_;
};

double seconds(clock_type::time_point since) { return std::chrono::duration<double>(clock_type::now() - since).count(); }

// One measurement; runs in a child process and prints one row.
int measure(const Kind& kind, int n) {
  size_t serialized = dumpJson(kind.make(n / 2)).size();
  if (std::getenv("SCALE_BENCH_DEBUG")) {
    Json o = kind.make(n / 2);
    o["metadata"].erase("managedFields");
    if (o["metadata"].contains("annotations")) o["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
    std::fprintf(stderr, "%s stripped json %zu cbor %zu\n", kind.name, dumpJson(o).size(), Json::to_cbor(o).size());
  }
  auto client = std::make_shared<PagedClient>(kind, n);
  double parseSec = client->parseSeconds();
  malloc_trim(0);
  long rss0 = rssKiB();
  kube::Informer inf(client, kind.resource);
  if (kind.resource.kind == "KeyActivationRequest") inf.addIndexer(controllers::kRequestsByKeyIndex, controllers::requestsByKey);
  size_t added = 0;
  inf.addHandlers({[&added](const kube::ObjectPtr&) { ++added; }, nullptr, nullptr});
  auto t0 = clock_type::now();
  inf.start();
  if (!inf.waitForSync(std::chrono::minutes(10))) {
    std::fprintf(stderr, "%s: no sync\n", kind.name);
    return 1;
  }
  double syncSec = seconds(t0);
  inf.stop();
  long rss1 = rssKiB();
  malloc_trim(0);
  long rss2 = rssKiB();
  size_t cached = inf.cache().size();
  if (cached != static_cast<size_t>(n) || added != cached) {
    std::fprintf(stderr, "%s: cached %zu, added %zu of %d\n", kind.name, cached, added, n);
    return 1;
  }
  // A read of an object nobody holds decodes it.
  std::mt19937 rng(7);
  std::vector<std::string> keys = inf.cache().keys();
  auto t1 = clock_type::now();
  size_t found = 0;
  const int reads = 20000;
  for (int i = 0; i < reads; ++i) found += inf.cache().get(keys[rng() % keys.size()]) != nullptr;
  double getUs = seconds(t1) * 1e6 / reads;
  auto t2 = clock_type::now();
  size_t visited = 0;
  inf.cache().forEach([&visited](const Json&) { ++visited; });
  double forEachSec = seconds(t2);
  long rss3 = rssKiB();
  std::printf("%-21s %7d %9zu %7zu %8.2f %8.2f %9.0f %11.0f %11.0f %8.2f %9.3f %8.1f\n", kind.name, n, serialized,
              inf.cache().packedBytes() / cached, syncSec, parseSec, n / syncSec, (rss1 - rss0) * 1024.0 / n, (rss2 - rss0) * 1024.0 / n, getUs, forEachSec,
              (rss3 - rss0) / 1024.0);
  std::fflush(stdout);
  return found == static_cast<size_t>(reads) && visited == cached ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i)
    if (int n = std::atoi(argv[i]); n > 0) sizes.push_back(n);
  if (sizes.empty()) sizes = {10000, 100000};
  const Kind kinds[] = {{"EncryptionKey", kube::resources::encryptionKeys(), encryptionKey},
                        {"KeyActivationRequest", kube::resources::keyActivationRequests(), activationRequest},
                        {"KeyRoleBinding", kube::resources::keyRoleBindings(), roleBinding},
                        {"Namespace", kube::resources::namespaces(), namespaceObject}};
  std::printf("objects over %d namespaces; listed 500 per page; each row in a fresh process\n", kNamespaces);
  std::printf("%-21s %7s %9s %7s %8s %8s %9s %11s %11s %8s %9s %8s\n", "informer", "objects", "obj_bytes", "packed",
              "sync_s",
              "parse_s", "objs/s",
              "rss_B/obj", "trimmed_B", "get_us", "forEach_s", "rss_MiB");
  int failures = 0;
  for (int n : sizes) {
    for (const Kind& k : kinds) {
      std::fflush(stdout);
      pid_t pid = fork();
      if (pid == 0) _exit(measure(k, n));
      int status = 0;
      waitpid(pid, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
    }
  }
  std::printf("sync_s: list to synced cache (informer start to hasSynced), of which parse_s is parsing the\n"
              "pages' JSON text alone; obj_bytes: an object as the API server sends it; packed: as the cache keeps it;\n"
              "rss_B/obj: RSS growth per cached object once synced; trimmed_B: after malloc_trim(0), as the operator\n"
              "does after its caches sync; get_us: a get() of an object nobody holds (decoded on read);\n"
              "forEach_s: one pass over every object (what a /metrics scrape does).\n");
  return failures == 0 ? 0 : 1;
}
