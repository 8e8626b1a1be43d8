#pragma once
// The Kubernetes API client interface: typed verbs on any resource path. Objects are JSON
// (nlohmann) so the client works for every kind; api/ converts them to structs.
// Every failure is an Error decoded from the server's Status body when there is one:
//   kNotFound (404), kAlreadyExists (409 AlreadyExists), kConflict (409 Conflict),
//   kGone (410), kInvalidArgument (400/422, causes filled), kUnauthenticated (401),
//   kPermissionDenied (403), kResourceExhausted (429, retryAfterSeconds), kDeadlineExceeded
//   (504 / client timeout), kUnavailable (connection errors, 503), kInternal (other 5xx).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/json.h"
#include "common/result.h"
#include "kube/resource.h"

namespace keygate::kube {

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  int64_t limit = 0;               // 0 = no paging
  std::string continueToken;
  std::string resourceVersion;     // "" = most recent (quorum read); "0" = any (watch cache)
  std::string resourceVersionMatch;
};

struct WatchOptions {
  std::string resourceVersion;
  std::string labelSelector;
  std::string fieldSelector;
  int timeoutSeconds = 0;          // server-side timeout; 0 = server default
  bool allowWatchBookmarks = true;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  Json object;
};
const char* watchEventTypeName(WatchEvent::Type t);
// Decodes one watch line. Garbage -> kInvalidArgument (never throws).
Result<WatchEvent> decodeWatchLine(std::string_view line);

// An open watch stream. next() blocks until an event, the end of the stream
// (kUnavailable with message "watch closed", also after the server's timeout), or cancel().
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual Result<WatchEvent> next() = 0;
  // Thread-safe; makes a blocked next() return kCancelled promptly.
  virtual void cancel() = 0;
};
using WatchStreamPtr = std::unique_ptr<WatchStream>;

enum class PatchType { kMerge, kJson, kApply };

struct PatchOptions {
  std::string fieldManager;   // required for kApply
  bool force = false;         // kApply only
  std::string subresource;    // "status" for status patches
};

struct DeleteOptions {
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
  std::string propagationPolicy;  // "", "Background", "Foreground", "Orphan"
  bool dryRun = false;
};

// Result of DELETE: the object when finalizers keep it, nothing when it is gone.
struct DeleteResult {
  bool deleted = false;     // true: object removed (server returned a Success Status)
  Json object;              // the still-present object (deletionTimestamp set) when !deleted
};

class Client {
 public:
  virtual ~Client() = default;
  virtual Result<Json> get(const Resource& r, const std::string& ns, const std::string& name,
                           const std::string& subresource = "") = 0;
  // One page. Use listAll() to follow continue tokens.
  virtual Result<Json> list(const Resource& r, const std::string& ns, const ListOptions& opts = {}) = 0;
  // The same page undecoded, as the server sent it (listPages reads the continue token from it
  // and asks for the next page before decoding this one). kUnimplemented: use list().
  virtual Result<std::string> listRaw(const Resource&, const std::string&, const ListOptions&) {
    return makeError(ErrorCode::kUnimplemented, "no undecoded lists");
  }
  virtual Result<Json> create(const Resource& r, const std::string& ns, const Json& body) = 0;
  // The same POST, the server's answer undecoded (the Event recorder needs only the name it sent).
  virtual Result<std::string> createRaw(const Resource& r, const std::string& ns, const Json& body) {
    ASSIGN_OR_RETURN(Json out, create(r, ns, body));
    return dumpJson(out);
  }
  // PUT; body must carry metadata.resourceVersion (stale -> kConflict). subresource "status" for /status.
  virtual Result<Json> update(const Resource& r, const std::string& ns, const Json& body,
                              const std::string& subresource = "") = 0;
  // The same PUT, the server's answer undecoded: for a caller that keeps the object it sent and
  // reads only what it needs from the answer (scanObjectResourceVersion, kube/meta_scan.h).
  virtual Result<std::string> updateRaw(const Resource& r, const std::string& ns, const Json& body,
                                        const std::string& subresource = "") {
    ASSIGN_OR_RETURN(Json out, update(r, ns, body, subresource));
    return dumpJson(out);
  }
  virtual Result<Json> patch(const Resource& r, const std::string& ns, const std::string& name, PatchType type,
                             const std::string& body, const PatchOptions& opts = {}) = 0;
  virtual Result<DeleteResult> remove(const Resource& r, const std::string& ns, const std::string& name,
                                      const DeleteOptions& opts = {}) = 0;
  virtual Result<WatchStreamPtr> watch(const Resource& r, const std::string& ns, const WatchOptions& opts) = 0;
};
using ClientPtr = std::shared_ptr<Client>;

// An API server response body decoded; kInternal ("undecodable response ...") when it is not JSON.
Result<Json> decodeResponseBody(std::string_view body);

// Follows continue tokens; returns {items, resourceVersion of the first page}. A 410 on a
// continue token restarts the list from scratch once (objects may have changed meanwhile).
struct ListAllResult {
  std::vector<Json> items;
  std::string resourceVersion;
};
Result<ListAllResult> listAll(Client& c, const Resource& r, const std::string& ns, ListOptions opts);

// The same walk, handing over each page as it arrives (a 100k-object list is never held
// whole). onStart runs before the first page and again if the walk starts over after an
// expired continue token. Returns the resourceVersion of the list.
Result<std::string> listPages(Client& c, const Resource& r, const std::string& ns, ListOptions opts,
                              const std::function<void()>& onStart,
                              const std::function<void(std::vector<Json>&& page)>& onPage);

}  // namespace keygate::kube
