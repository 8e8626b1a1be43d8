#include "kube/memory_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <set>
#include <utility>

#include "common/time.h"

#include <openssl/rand.h>

namespace keygate::kube {
namespace {

// Random (v4) UIDs, as the API server assigns them: a key's backend id derives from its
// uid, so a uid must never be reused for a different object.
std::string randomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    static std::atomic<uint64_t> fallback{0};
    uint64_t n = ++fallback ^ static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (int i = 0; i < 16; ++i) b[i] = static_cast<unsigned char>(n >> ((i % 8) * 8));
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}


Error apiError(ErrorCode code, int http, std::string reason, std::string message) {
  Error e(code, std::move(message));
  e.httpStatus = http;
  e.reason = std::move(reason);
  return e;
}

Error notFound(const Resource& r, const std::string& name) {
  return apiError(ErrorCode::kNotFound, 404, "NotFound", r.qualifiedName() + " \"" + name + "\" not found");
}

Error alreadyExists(const Resource& r, const std::string& name) {
  return apiError(ErrorCode::kAlreadyExists, 409, "AlreadyExists",
                  r.qualifiedName() + " \"" + name + "\" already exists");
}

Error conflict(const Resource& r, const std::string& name) {
  return apiError(ErrorCode::kConflict, 409, "Conflict",
                  "Operation cannot be fulfilled on " + r.qualifiedName() + " \"" + name +
                      "\": the object has been modified; please apply your changes to the latest version and try again");
}

Error badRequest(std::string message) {
  return apiError(ErrorCode::kInvalidArgument, 400, "BadRequest", std::move(message));
}

Error invalid(const Resource& r, const std::string& name, const std::string& field, const std::string& detail) {
  Error e = apiError(ErrorCode::kInvalidArgument, 422, "Invalid",
                     r.kind + "." + r.group + " \"" + name + "\" is invalid: " + field + ": " + detail);
  e.causes.push_back({"FieldValueInvalid", detail, field});
  return e;
}

// Custom resources get generation and a status subresource; built-in kinds used here do not.
bool isCustom(const Resource& r) {
  static const std::set<std::string> kBuiltIn = {"", "coordination.k8s.io", "events.k8s.io",
                                                 "rbac.authorization.k8s.io", "apps"};
  return kBuiltIn.count(r.group) == 0;
}

// MicroTime fields must carry exactly six fractional digits (13-lease.txt): catches clients
// that format them like metav1.Time.
bool isMicroTime(const Json& v) {
  if (v.is_null()) return true;
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  auto dot = s.find('.');
  if (dot == std::string::npos || dot != 19) return false;
  size_t digits = 0;
  while (dot + 1 + digits < s.size() && std::isdigit(static_cast<unsigned char>(s[dot + 1 + digits]))) ++digits;
  return digits == 6 && parseRfc3339(s).ok();
}

// Built-in validation the operator's own clients could trip over.
std::optional<Error> validate(const Resource& r, const std::string& ns, const Json& obj) {
  const std::string name = getString(obj, "metadata.name");
  if (r.plural == "leases" && r.group == "coordination.k8s.io") {
    for (const char* f : {"acquireTime", "renewTime"}) {
      const Json* v = findPath(obj, std::string("spec.") + f);
      if (v && !isMicroTime(*v))
        return badRequest("Lease in version \"v1\" cannot be handled as a Lease: parsing time " + v->dump() +
                          " as \"2006-01-02T15:04:05.000000Z07:00\"");
    }
    const Json* d = findPath(obj, "spec.leaseDurationSeconds");
    if (d && !d->is_null() && (!d->is_number_integer() || d->get<int64_t>() <= 0))
      return invalid(r, name, "spec.leaseDurationSeconds", "Invalid value: " + d->dump() + ": must be greater than 0");
  }
  if (r.plural == "events" && r.group.empty()) {
    std::string involvedNs = getString(obj, "involvedObject.namespace");
    bool ok = involvedNs == ns || (involvedNs.empty() && (ns.empty() || ns == "default"));
    if (!ok) {
      Error e = apiError(ErrorCode::kInvalidArgument, 422, "Invalid",
                         "Event \"" + name + "\" is invalid: involvedObject.namespace: Invalid value: \"" + involvedNs +
                             "\": does not match event.namespace");
      e.causes.push_back({"FieldValueInvalid", "does not match event.namespace", "involvedObject.namespace"});
      return e;
    }
    const Json* t = findPath(obj, "eventTime");
    if (t && !isMicroTime(*t)) return badRequest("Event in version \"v1\" cannot be handled as a Event: eventTime");
  }
  return std::nullopt;
}

std::optional<Error> checkTypeMeta(const Resource& r, const Json& body) {
  if (!body.is_object()) return badRequest("the body of the request is not a JSON object");
  std::string kind = getString(body, "kind");
  std::string apiVersion = getString(body, "apiVersion");
  if (kind.empty()) return badRequest("Object 'Kind' is missing in '" + dumpJson(body) + "'");
  if (kind != r.kind || apiVersion != r.apiVersion())
    return badRequest("the API version in the data (" + apiVersion + ") and kind (" + kind +
                      ") do not match the resource " + r.apiVersion() + " " + r.kind);
  return std::nullopt;
}

// Everything that is not metadata or status: what generation tracks.
Json specPart(const Json& obj) {
  Json j = obj;
  j.erase("metadata");
  j.erase("status");
  return j;
}

// Object equality for no-op detection: resourceVersion and managedFields do not count.
Json comparable(const Json& obj) {
  Json j = obj;
  if (j.contains("metadata") && j["metadata"].is_object()) {
    j["metadata"].erase("resourceVersion");
    j["metadata"].erase("managedFields");
  }
  return j;
}

struct Requirement {
  std::string key;
  std::string op;  // "=", "!=", "exists", "!exists"
  std::string value;
};

Result<std::vector<Requirement>> parseSelector(const std::string& selector) {
  std::vector<Requirement> out;
  size_t start = 0;
  while (start <= selector.size() && !selector.empty()) {
    size_t comma = selector.find(',', start);
    std::string term = selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    term.erase(0, term.find_first_not_of(' '));
    term.erase(term.find_last_not_of(' ') + 1);
    if (term.find(" in ") != std::string::npos || term.find(" notin ") != std::string::npos || term.empty())
      return badRequest("unsupported selector term \"" + term + "\" in the fake client");
    Requirement req;
    if (auto p = term.find("!="); p != std::string::npos) {
      req = {term.substr(0, p), "!=", term.substr(p + 2)};
    } else if (auto p2 = term.find("=="); p2 != std::string::npos) {
      req = {term.substr(0, p2), "=", term.substr(p2 + 2)};
    } else if (auto p3 = term.find('='); p3 != std::string::npos) {
      req = {term.substr(0, p3), "=", term.substr(p3 + 1)};
    } else if (term[0] == '!') {
      req = {term.substr(1), "!exists", ""};
    } else {
      req = {term, "exists", ""};
    }
    out.push_back(req);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool matchesLabels(const Json& obj, const std::vector<Requirement>& reqs) {
  const Json* labels = findPath(obj, "metadata.labels");
  for (const auto& q : reqs) {
    bool has = labels && labels->is_object() && labels->contains(q.key) && (*labels)[q.key].is_string();
    std::string v = has ? (*labels)[q.key].get<std::string>() : "";
    if (q.op == "exists" && !has) return false;
    if (q.op == "!exists" && has) return false;
    if (q.op == "=" && (!has || v != q.value)) return false;
    if (q.op == "!=" && has && v == q.value) return false;
  }
  return true;
}

bool matchesFields(const Json& obj, const std::vector<Requirement>& reqs) {
  for (const auto& q : reqs) {
    const Json* f = findPath(obj, q.key);
    std::string v = !f ? "" : f->is_string() ? f->get<std::string>() : f->dump();
    if (q.op == "=" && v != q.value) return false;
    if (q.op == "!=" && v == q.value) return false;
  }
  return true;
}

std::string randomSuffix(int64_t n) {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 5; ++i) {
    s += kAlphabet[n % 27];
    n /= 27;
  }
  return s;
}

}  // namespace

MemoryClient::MemoryClient(const Clock* clock) : clock_(clock ? *clock : realClock()) {}

void MemoryClient::setInterceptor(MemoryInterceptor interceptor) {
  std::lock_guard<std::mutex> lock(mu_);
  interceptor_ = std::move(interceptor);
}

std::vector<MemoryCall> MemoryClient::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_;
}

size_t MemoryClient::countCalls(const std::string& verb, const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::count_if(calls_.begin(), calls_.end(), [&](const MemoryCall& c) {
    return c.verb == verb && (resource.empty() || c.resource == resource);
  });
}

void MemoryClient::clearCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.clear();
}

std::vector<Json> MemoryClient::objects(const Resource& r, const std::string& ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Json> out;
  for (const auto& [key, obj] : objects_) {
    if (std::get<0>(key) == r.qualifiedName() && (ns.empty() || std::get<1>(key) == ns)) out.push_back(obj);
  }
  return out;
}

int64_t MemoryClient::resourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resourceVersion_;
}

std::optional<Error> MemoryClient::intercept(MemoryCall call) {
  MemoryInterceptor interceptor;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calls_.push_back(call);
    interceptor = interceptor_;
  }
  if (interceptor) return interceptor(call);
  return std::nullopt;
}

std::string MemoryClient::nextResourceVersionLocked() { return std::to_string(++resourceVersion_); }

Result<Json> MemoryClient::get(const Resource& r, const std::string& ns, const std::string& name,
                             const std::string& subresource) {
  if (auto e = intercept({"get", r.qualifiedName(), ns, name, subresource, ""})) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find({r.qualifiedName(), nsFor(r, ns), name});
  if (it == objects_.end() || (!subresource.empty() && subresource != "status")) return notFound(r, name);
  return it->second;
}

Result<Json> MemoryClient::list(const Resource& r, const std::string& ns, const ListOptions& opts) {
  if (auto e = intercept({"list", r.qualifiedName(), ns, "", "", ""})) return *e;
  ASSIGN_OR_RETURN(auto labelReqs, parseSelector(opts.labelSelector));
  ASSIGN_OR_RETURN(auto fieldReqs, parseSelector(opts.fieldSelector));
  // The continue token is "<namespace>/<name>" of the last item returned (namespaces hold no '/').
  std::pair<std::string, std::string> after;
  if (!opts.continueToken.empty()) {
    auto slash = opts.continueToken.find('/');
    if (slash == std::string::npos) return badRequest("invalid continue token");
    after = {opts.continueToken.substr(0, slash), opts.continueToken.substr(slash + 1)};
  }
  std::lock_guard<std::mutex> lock(mu_);
  Json items = Json::array();
  std::string continueToken;
  for (const auto& [key, obj] : objects_) {
    if (std::get<0>(key) != r.qualifiedName()) continue;
    if (!ns.empty() && r.namespaced && std::get<1>(key) != ns) continue;
    if (!opts.continueToken.empty() && std::make_pair(std::get<1>(key), std::get<2>(key)) <= after) continue;
    if (!matchesLabels(obj, labelReqs) || !matchesFields(obj, fieldReqs)) continue;
    if (opts.limit > 0 && static_cast<int64_t>(items.size()) == opts.limit) {
      continueToken = getString(items.back(), "metadata.namespace") + "/" + getString(items.back(), "metadata.name");
      break;
    }
    items.push_back(obj);
  }
  Json meta = {{"resourceVersion", std::to_string(resourceVersion_)}};
  if (!continueToken.empty()) meta["continue"] = continueToken;
  return Json{{"kind", r.kind + "List"}, {"apiVersion", r.apiVersion()}, {"metadata", meta}, {"items", items}};
}

Status MemoryClient::restore(const Resource& r, Json obj) {
  std::string name = getString(obj, "metadata.name");
  std::string ns = nsFor(r, getString(obj, "metadata.namespace"));
  if (name.empty() || getString(obj, "metadata.uid").empty() || (r.namespaced && ns.empty()))
    return makeError(ErrorCode::kInvalidArgument, "restore " + r.qualifiedName() + ": name, namespace and uid are required");
  std::lock_guard<std::mutex> lock(mu_);
  obj["metadata"]["resourceVersion"] = nextResourceVersionLocked();
  objects_[Key{r.qualifiedName(), ns, name}] = std::move(obj);
  return okStatus();
}

Result<Json> MemoryClient::create(const Resource& r, const std::string& ns, const Json& body) {
  if (auto e = intercept({"create", r.qualifiedName(), ns, getString(body, "metadata.name"), "", dumpJson(body)}))
    return *e;
  if (auto e = checkTypeMeta(r, body)) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  Json obj = body;
  Json& meta = obj["metadata"];
  if (!meta.is_object()) meta = Json::object();
  std::string effectiveNs = nsFor(r, ns);
  if (r.namespaced && effectiveNs.empty()) return badRequest("a namespace is required to create " + r.qualifiedName());
  if (std::string bodyNs = getString(obj, "metadata.namespace"); !bodyNs.empty() && r.namespaced && bodyNs != effectiveNs)
    return badRequest("the namespace of the provided object does not match the namespace sent on the request");
  std::string name = getString(obj, "metadata.name");
  if (name.empty()) {
    std::string prefix = getString(obj, "metadata.generateName");
    if (prefix.empty()) return invalid(r, "", "metadata.name", "Required value: name or generateName is required");
    name = prefix + randomSuffix(++uidCounter_ * 7919);
  }
  Key key{r.qualifiedName(), effectiveNs, name};
  if (objects_.count(key)) return alreadyExists(r, name);
  meta["name"] = name;
  if (r.namespaced) meta["namespace"] = effectiveNs;
  meta["uid"] = randomUuid();
  meta["creationTimestamp"] = formatRfc3339(clock_.now());
  meta.erase("deletionTimestamp");
  meta.erase("resourceVersion");
  if (isCustom(r)) {
    meta["generation"] = 1;
    obj.erase("status");  // status in a create body is dropped (facts.md)
  }
  if (auto e = validate(r, effectiveNs, obj)) return *e;
  meta["resourceVersion"] = nextResourceVersionLocked();
  objects_[key] = obj;
  return obj;
}

Result<Json> MemoryClient::update(const Resource& r, const std::string& ns, const Json& body,
                                const std::string& subresource) {
  std::string name = getString(body, "metadata.name");
  if (auto e = intercept({"update", r.qualifiedName(), ns, name, subresource, dumpJson(body)})) return *e;
  if (auto e = checkTypeMeta(r, body)) return *e;
  if (name.empty()) return badRequest("name is required in the body of an update");
  std::lock_guard<std::mutex> lock(mu_);
  Key key{r.qualifiedName(), nsFor(r, ns), name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return notFound(r, name);
  const Json& old = it->second;
  std::string rv = getString(body, "metadata.resourceVersion");
  if (rv.empty() && isCustom(r))
    return invalid(r, name, "metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update");
  if (!rv.empty() && rv != getString(old, "metadata.resourceVersion")) return conflict(r, name);
  std::string uid = getString(body, "metadata.uid");
  if (!uid.empty() && uid != getString(old, "metadata.uid")) {
    return apiError(ErrorCode::kConflict, 409, "Conflict",
                    "Operation cannot be fulfilled on " + r.qualifiedName() + " \"" + name +
                        "\": Precondition failed: UID in precondition: " + uid +
                        ", UID in object meta: " + getString(old, "metadata.uid"));
  }
  return writeLocked(r, key, old, body, subresource);
}

Result<Json> MemoryClient::patch(const Resource& r, const std::string& ns, const std::string& name,
                               PatchType type, const std::string& body, const PatchOptions& opts) {
  if (auto e = intercept({"patch", r.qualifiedName(), ns, name, opts.subresource, body})) return *e;
  if (type == PatchType::kApply) return makeError(ErrorCode::kUnimplemented, "server-side apply is not faked");
  ASSIGN_OR_RETURN(Json p, parseJson(body));
  std::lock_guard<std::mutex> lock(mu_);
  Key key{r.qualifiedName(), nsFor(r, ns), name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return notFound(r, name);
  const Json& old = it->second;
  Json next = old;
  if (type == PatchType::kMerge) {
    if (!p.is_object()) return badRequest("a merge patch must be a JSON object");
    next.merge_patch(p);
  } else {
    try {
      next = old.patch(p);
    } catch (const std::exception& e) {
      Error err = apiError(ErrorCode::kInvalidArgument, 422, "Invalid", std::string("json patch failed: ") + e.what());
      return err;
    }
  }
  // A resourceVersion written by the patch is a precondition, as on the real server.
  std::string rv = getString(next, "metadata.resourceVersion");
  if (rv != getString(old, "metadata.resourceVersion")) return conflict(r, name);
  return writeLocked(r, key, old, std::move(next), opts.subresource);
}

Result<Json> MemoryClient::writeLocked(const Resource& r, const Key& key, const Json& old, Json next,
                                     const std::string& subresource) {
  if (!next.is_object()) return badRequest("the object is not a JSON object");
  bool custom = isCustom(r);
  if (subresource == "status") {
    // The status subresource changes status only.
    Json merged = old;
    if (next.contains("status")) merged["status"] = next["status"];
    else merged.erase("status");
    next = std::move(merged);
  } else if (!subresource.empty()) {
    return notFound(r, std::get<2>(key));
  } else {
    Json& meta = next["metadata"];
    if (!meta.is_object()) meta = Json::object();
    // Server-owned metadata cannot be changed by clients.
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace", "name"}) {
      const Json* v = findPath(old, std::string("metadata.") + f);
      if (v) meta[f] = *v;
      else meta.erase(f);
    }
    if (custom) {
      if (old.contains("status")) next["status"] = old["status"];
      else next.erase("status");
      if (specPart(next) != specPart(old)) meta["generation"] = getInt(old, "metadata.generation", 1) + 1;
    }
  }
  if (auto e = validate(r, std::get<1>(key), next)) return *e;
  next["metadata"]["resourceVersion"] = getString(old, "metadata.resourceVersion");
  if (comparable(next) == comparable(old)) return old;  // no-op writes do not bump resourceVersion
  next["metadata"]["resourceVersion"] = nextResourceVersionLocked();
  // Removing the last finalizer of a deleting object deletes it.
  const Json* finalizers = findPath(next, "metadata.finalizers");
  bool hasFinalizers = finalizers && finalizers->is_array() && !finalizers->empty();
  if (findPath(next, "metadata.deletionTimestamp") && !hasFinalizers) {
    objects_.erase(key);
    return next;
  }
  objects_[key] = next;
  return next;
}

Result<DeleteResult> MemoryClient::remove(const Resource& r, const std::string& ns, const std::string& name,
                                              const DeleteOptions& opts) {
  if (auto e = intercept({"delete", r.qualifiedName(), ns, name, "", ""})) return *e;
  std::lock_guard<std::mutex> lock(mu_);
  Key key{r.qualifiedName(), nsFor(r, ns), name};
  auto it = objects_.find(key);
  if (it == objects_.end()) return notFound(r, name);
  Json& obj = it->second;
  if (opts.preconditionUid && *opts.preconditionUid != getString(obj, "metadata.uid")) {
    return apiError(ErrorCode::kConflict, 409, "Conflict",
                    "Operation cannot be fulfilled on " + r.qualifiedName() + " \"" + name +
                        "\": Precondition failed: UID in precondition: " + *opts.preconditionUid +
                        ", UID in object meta: " + getString(obj, "metadata.uid"));
  }
  if (opts.preconditionResourceVersion &&
      *opts.preconditionResourceVersion != getString(obj, "metadata.resourceVersion")) {
    return conflict(r, name);
  }
  DeleteResult result;
  const Json* finalizers = findPath(obj, "metadata.finalizers");
  if (finalizers && finalizers->is_array() && !finalizers->empty()) {
    if (!opts.dryRun && !findPath(obj, "metadata.deletionTimestamp")) {
      obj["metadata"]["deletionTimestamp"] = formatRfc3339(clock_.now());
      obj["metadata"]["deletionGracePeriodSeconds"] = 0;
      obj["metadata"]["resourceVersion"] = nextResourceVersionLocked();
    }
    result.object = obj;
    return result;
  }
  result.deleted = true;
  result.object = obj;
  if (!opts.dryRun) objects_.erase(it);
  return result;
}

Result<WatchStreamPtr> MemoryClient::watch(const Resource& r, const std::string& ns,
                                               const WatchOptions&) {
  if (auto e = intercept({"watch", r.qualifiedName(), ns, "", "", ""})) return *e;
  return makeError(ErrorCode::kUnimplemented, "the fake client does not serve watches");
}

}  // namespace keygate::kube
