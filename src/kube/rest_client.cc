#include "kube/rest_client.h"

#include <atomic>
#include <cstdio>
#include <thread>

#include "common/backoff.h"
#include "common/log.h"
#include "kube/status.h"

namespace keygate::kube {
namespace {

const log::Logger& logger() {
  static const log::Logger l("kube.client");
  return l;
}

void addQuery(std::string& path, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  path += (path.find('?') == std::string::npos ? '?' : '&');
  path += key + "=" + urlEncode(value);
}

bool isSuccess(int status) { return status >= 200 && status < 300; }

bool retryable(const Error& e, bool idempotent) {
  if (e.code == ErrorCode::kResourceExhausted) return true;  // 429: not processed
  if (e.httpStatus == 0) {
    // Transport failure. A refused connection never reached the server; other failures may
    // have been processed, so only idempotent requests retry.
    if (e.reason == "ConnectFailed") return true;
    return idempotent && (e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kDeadlineExceeded);
  }
  return idempotent && e.httpStatus >= 500 && e.httpStatus != 501;
}

// Watch streams decode lines lazily and turn ERROR events into errors.
class RestWatchStream final : public WatchStream {
 public:
  explicit RestWatchStream(HttpStreamPtr s) : stream_(std::move(s)) {}
  Result<WatchEvent> next() override {
    auto line = stream_->readLine();
    if (!line.ok()) return line.takeError();
    if (!line->has_value()) return makeError(ErrorCode::kUnavailable, "watch closed");
    return decodeWatchLine(**line);
  }
  void cancel() override { stream_->cancel(); }

 private:
  HttpStreamPtr stream_;
};

}  // namespace

std::string urlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

RestClient::RestClient(TransportPtr transport, RestClientOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {}

Result<HttpResponse> RestClient::call(const std::string& verb, const Resource& r, HttpRequest req, bool idempotent) {
  req.headers.emplace_back("Accept", "application/json");
  Backoff backoff({options_.retryBase, options_.retryMax, 2.0, 0.2});
  for (int attempt = 0;; ++attempt) {
    if (options_.throttle) options_.throttle();
    auto resp = transport_->send(req);
    Error err;
    if (resp.ok()) {
      if (options_.observe) options_.observe(verb, r.plural, resp->status);
      if (isSuccess(resp->status)) return resp;
      err = errorFromResponse(*resp);
    } else {
      if (options_.observe) options_.observe(verb, r.plural, 0);
      err = resp.takeError();
    }
    if (attempt >= options_.maxRetries || !retryable(err, idempotent)) return err;
    auto delay = backoff.next();
    if (err.retryAfterSeconds)
      delay = std::chrono::milliseconds(static_cast<int64_t>(*err.retryAfterSeconds * 1000));
    logger().debug("retrying request",
                   {{"verb", verb}, {"path", req.pathAndQuery}, {"error", err.toString()}, {"delayMs", delay.count()}});
    std::this_thread::sleep_for(delay);
  }
}

Result<Json> decodeResponseBody(std::string_view body) {
  auto j = parseJson(body);
  if (!j.ok()) return makeError(ErrorCode::kInternal, "undecodable response from the API server: " + j.error().message);
  return j;
}

Result<Json> RestClient::callJson(const std::string& verb, const Resource& r, HttpRequest req, bool idempotent) {
  ASSIGN_OR_RETURN(HttpResponse resp, call(verb, r, std::move(req), idempotent));
  return decodeResponseBody(resp.body);
}

Result<Json> RestClient::get(const Resource& r, const std::string& ns, const std::string& name,
                             const std::string& subresource) {
  if (name.empty()) return makeError(ErrorCode::kInvalidArgument, "get " + r.plural + ": name is empty");
  return callJson("get", r, {"GET", r.path(ns, name, subresource), {}, ""}, true);
}

namespace {
std::string listPath(const Resource& r, const std::string& ns, const ListOptions& opts) {
  std::string path = r.path(ns);
  addQuery(path, "labelSelector", opts.labelSelector);
  addQuery(path, "fieldSelector", opts.fieldSelector);
  if (opts.limit > 0) addQuery(path, "limit", std::to_string(opts.limit));
  addQuery(path, "continue", opts.continueToken);
  addQuery(path, "resourceVersion", opts.resourceVersion);
  addQuery(path, "resourceVersionMatch", opts.resourceVersionMatch);
  return path;
}
}  // namespace

Result<Json> RestClient::list(const Resource& r, const std::string& ns, const ListOptions& opts) {
  return callJson("list", r, {"GET", listPath(r, ns, opts), {}, ""}, true);
}

Result<std::string> RestClient::listRaw(const Resource& r, const std::string& ns, const ListOptions& opts) {
  ASSIGN_OR_RETURN(HttpResponse resp, call("list", r, {"GET", listPath(r, ns, opts), {}, ""}, true));
  return std::move(resp.body);
}

Result<std::string> RestClient::createRaw(const Resource& r, const std::string& ns, const Json& body) {
  std::string path = r.path(ns);
  addQuery(path, "fieldManager", options_.fieldManager);
  if (options_.dryRun) addQuery(path, "dryRun", "All");
  ASSIGN_OR_RETURN(HttpResponse resp,
                   call("create", r, {"POST", path, {{"Content-Type", "application/json"}}, dumpJson(body)}, false));
  return std::move(resp.body);
}

Result<Json> RestClient::create(const Resource& r, const std::string& ns, const Json& body) {
  ASSIGN_OR_RETURN(std::string raw, createRaw(r, ns, body));
  return decodeResponseBody(raw);
}

Result<std::string> RestClient::updateRaw(const Resource& r, const std::string& ns, const Json& body,
                                          const std::string& subresource) {
  std::string name = getString(body, "metadata.name");
  if (name.empty()) return makeError(ErrorCode::kInvalidArgument, "update " + r.plural + ": metadata.name is empty");
  std::string path = r.path(ns, name, subresource);
  addQuery(path, "fieldManager", options_.fieldManager);
  if (options_.dryRun) addQuery(path, "dryRun", "All");
  // PUT carries resourceVersion: a retry after an unknown outcome fails safely with 409.
  ASSIGN_OR_RETURN(HttpResponse resp, call(subresource.empty() ? "update" : "update/" + subresource, r,
                                           {"PUT", path, {{"Content-Type", "application/json"}}, dumpJson(body)}, false));
  return std::move(resp.body);
}

Result<Json> RestClient::update(const Resource& r, const std::string& ns, const Json& body,
                                const std::string& subresource) {
  ASSIGN_OR_RETURN(std::string raw, updateRaw(r, ns, body, subresource));
  return decodeResponseBody(raw);
}

Result<Json> RestClient::patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                               const std::string& body, const PatchOptions& opts) {
  if (name.empty()) return makeError(ErrorCode::kInvalidArgument, "patch " + r.plural + ": name is empty");
  std::string path = r.path(ns, name, opts.subresource);
  std::string ct;
  switch (type) {
    case PatchType::kMerge: ct = "application/merge-patch+json"; break;
    case PatchType::kJson: ct = "application/json-patch+json"; break;
    case PatchType::kApply: ct = "application/apply-patch+yaml"; break;
  }
  std::string manager = opts.fieldManager.empty() ? options_.fieldManager : opts.fieldManager;
  addQuery(path, "fieldManager", manager);
  if (type == PatchType::kApply && opts.force) addQuery(path, "force", "true");
  if (options_.dryRun) addQuery(path, "dryRun", "All");
  // Apply is declarative and idempotent; merge/JSON patches may not be.
  return callJson(opts.subresource.empty() ? "patch" : "patch/" + opts.subresource, r,
                  {"PATCH", path, {{"Content-Type", ct}}, body}, type == PatchType::kApply);
}

Result<DeleteResult> RestClient::remove(const Resource& r, const std::string& ns, const std::string& name,
                                        const DeleteOptions& opts) {
  if (name.empty()) return makeError(ErrorCode::kInvalidArgument, "delete " + r.plural + ": name is empty");
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (opts.preconditionUid || opts.preconditionResourceVersion) {
    Json pre = Json::object();
    if (opts.preconditionUid) pre["uid"] = *opts.preconditionUid;
    if (opts.preconditionResourceVersion) pre["resourceVersion"] = *opts.preconditionResourceVersion;
    body["preconditions"] = pre;
  }
  if (!opts.propagationPolicy.empty()) body["propagationPolicy"] = opts.propagationPolicy;
  if (opts.dryRun) body["dryRun"] = Json::array({"All"});
  ASSIGN_OR_RETURN(Json j, callJson("delete", r,
                                    {"DELETE", r.path(ns, name), {{"Content-Type", "application/json"}}, dumpJson(body)},
                                    false));
  DeleteResult out;
  if (getString(j, "kind") == "Status") {
    out.deleted = getString(j, "status") == "Success";
  } else {
    out.object = std::move(j);
  }
  return out;
}

Result<WatchStreamPtr> RestClient::watch(const Resource& r, const std::string& ns, const WatchOptions& opts) {
  std::string path = r.path(ns);
  addQuery(path, "watch", "1");
  addQuery(path, "resourceVersion", opts.resourceVersion);
  addQuery(path, "labelSelector", opts.labelSelector);
  addQuery(path, "fieldSelector", opts.fieldSelector);
  if (opts.allowWatchBookmarks) addQuery(path, "allowWatchBookmarks", "true");
  if (opts.timeoutSeconds > 0) addQuery(path, "timeoutSeconds", std::to_string(opts.timeoutSeconds));
  if (options_.throttle) options_.throttle();
  HttpRequest req{"GET", path, {{"Accept", "application/json"}}, ""};
  ASSIGN_OR_RETURN(HttpStreamPtr s, transport_->stream(req));
  if (options_.observe) options_.observe("watch", r.plural, s->status());
  if (s->status() != 200) {
    HttpResponse resp;
    resp.status = s->status();
    auto body = s->readAll();
    if (body.ok()) resp.body = std::move(*body);
    return errorFromResponse(resp);
  }
  return WatchStreamPtr(std::make_unique<RestWatchStream>(std::move(s)));
}

}  // namespace keygate::kube
