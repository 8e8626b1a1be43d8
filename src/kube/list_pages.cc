// listPages and listAll (client.h), and the list-metadata scan (list_pages.h).
#include "kube/list_pages.h"

#include <atomic>
#include <cstring>
#include <future>
#include <memory>
#include <semaphore>

#include "common/json.h"
#include "kube/client.h"

namespace keygate::kube {
namespace {

constexpr size_t npos = std::string_view::npos;

size_t skipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  return i;
}

// s[i] is '"': the position after the closing quote.
size_t skipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    const void* hit = std::memchr(s.data() + i, '"', s.size() - i);
    if (!hit) return npos;
    size_t q = static_cast<const char*>(hit) - s.data();
    size_t backslashes = 0;
    while (q - backslashes > i && s[q - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q + 1;
    i = q;  // an escaped quote: look on
  }
  return npos;
}

// The position after the value that starts at s[i].
size_t skipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return npos;
  if (s[i] == '"') return skipString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = skipString(s, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      ++i;
    }
    return npos;
  }
  const size_t start = i;
  while (i < s.size() && !std::strchr(",}] \n\r\t", s[i])) ++i;
  return i > start ? i : npos;
}

}  // namespace

std::optional<ListMeta> scanListMeta(std::string_view s) {
  size_t i = skipSpace(s, 0);
  if (i >= s.size() || s[i] != '{') return std::nullopt;
  std::optional<std::string_view> meta;
  for (i = skipSpace(s, i + 1); i < s.size() && s[i] != '}';) {
    if (s[i] != '"') return std::nullopt;
    const size_t keyEnd = skipString(s, i);
    if (keyEnd == npos) return std::nullopt;
    const std::string_view key = s.substr(i + 1, keyEnd - i - 2);
    i = skipSpace(s, keyEnd);
    if (i >= s.size() || s[i] != ':') return std::nullopt;
    const size_t valueStart = skipSpace(s, i + 1), valueEnd = skipValue(s, valueStart);
    if (valueEnd == npos) return std::nullopt;
    if (key == "metadata") meta = s.substr(valueStart, valueEnd - valueStart);  // the last one, as a decoder keeps
    i = skipSpace(s, valueEnd);
    if (i < s.size() && s[i] == ',') i = skipSpace(s, i + 1);
    else if (i >= s.size() || s[i] != '}') return std::nullopt;
  }
  if (i >= s.size() || skipSpace(s, i + 1) != s.size() || !meta) return std::nullopt;
  auto j = parseJson(*meta);
  if (!j.ok() || !j->is_object()) return std::nullopt;
  ListMeta out;
  for (auto [field, into] : {std::pair{"continue", &out.continueToken}, {"resourceVersion", &out.resourceVersion}}) {
    auto it = j->find(field);
    if (it == j->end() || it->is_null()) continue;
    if (!it->is_string()) return std::nullopt;
    *into = it->get<std::string>();
  }
  return out;
}

namespace {

// One page: its items, and what came with it.
struct Page {
  Result<Json> list = Json();
  std::string continueToken, resourceVersion;
  std::unique_ptr<std::future<Page>> next;  // the page after it, already asked for
};

std::unique_ptr<std::future<Page>> take(std::unique_ptr<std::future<Page>>& f) {
  Page p = f->get();
  return std::move(p.next);
}

// A walk's pages are fetched by a chain of tasks, each asking for the next page as soon as
// its own has arrived and its continue token is known, then decoding its own. At most
// kAhead pages are fetched and not yet consumed; the caller returns credits as it consumes.
struct Walk {
  static constexpr int kAhead = 2;
  Client& client;
  const Resource& resource;
  const std::string& ns;
  std::counting_semaphore<64> credits{kAhead};
  std::atomic<bool> stopping{false};

  Walk(Client& c, const Resource& r, const std::string& n) : client(c), resource(r), ns(n) {}

  std::unique_ptr<std::future<Page>> ask(ListOptions opts) {
    return std::make_unique<std::future<Page>>(
        std::async(std::launch::async, [this, opts = std::move(opts)]() mutable { return fetch(std::move(opts)); }));
  }

  Page fetch(ListOptions opts) {
    credits.acquire();
    Page p;
    if (stopping) {
      p.list = makeError(ErrorCode::kCancelled, "list abandoned");
      return p;
    }
    auto raw = client.listRaw(resource, ns, opts);
    if (!raw.ok() && raw.error().code != ErrorCode::kUnimplemented) {
      p.list = raw.takeError();
      return p;
    }
    std::optional<ListMeta> meta;
    if (raw.ok()) meta = scanListMeta(*raw);
    if (!meta) {
      // No undecoded form, or one the scan could not read: decode first, then ask.
      p.list = raw.ok() ? decodeResponseBody(*raw) : client.list(resource, ns, opts);
      if (!p.list.ok()) return p;
      meta = ListMeta{getString(*p.list, "metadata.continue"), getString(*p.list, "metadata.resourceVersion")};
      raw = std::string();
    }
    p.continueToken = meta->continueToken;
    p.resourceVersion = meta->resourceVersion;
    if (!p.continueToken.empty()) {
      ListOptions next = opts;
      next.continueToken = p.continueToken;
      next.resourceVersion.clear();  // a continue token carries its own resourceVersion
      next.resourceVersionMatch.clear();
      p.next = ask(std::move(next));
    }
    if (!raw->empty()) p.list = decodeResponseBody(*raw);
    return p;
  }

  // Lets every task still waiting for a credit end without asking for anything.
  void abandon() {
    stopping = true;
    credits.release(kAhead + 1);
  }
};

}  // namespace

Result<std::string> listPages(Client& c, const Resource& r, const std::string& ns, ListOptions opts,
                              const std::function<void()>& onStart,
                              const std::function<void(std::vector<Json>&& page)>& onPage) {
  for (int restart = 0;; ++restart) {
    onStart();
    Walk walk(c, r, ns);
    std::string resourceVersion;
    bool first = true, gone = false;
    std::unique_ptr<std::future<Page>> ahead = walk.ask(opts);
    // However this walk ends (also by an exception from onPage), the tasks already asked for
    // end before it does, and none asks again.
    struct Drain {
      Walk& walk;
      std::unique_ptr<std::future<Page>>& ahead;
      ~Drain() {
        walk.abandon();
        try {
          while (ahead) ahead = take(ahead);
        } catch (...) {  // a task that threw has no next
        }
      }
    } drain{walk, ahead};
    Result<std::string> result = std::string();
    while (ahead) {
      Page page = ahead->get();
      ahead = std::move(page.next);
      if (!page.list.ok()) {
        if (page.list.error().code == ErrorCode::kGone && !first && restart == 0) gone = true;  // continue token expired: start over
        else result = page.list.takeError();
        break;
      }
      if (first) resourceVersion = page.resourceVersion;
      first = false;
      std::vector<Json> items;
      if (auto it = page.list->find("items"); it != page.list->end() && it->is_array()) {
        items.reserve(it->size());
        for (auto& item : *it) items.push_back(std::move(item));
      }
      page.list = Json();  // the page's emptied shell
      onPage(std::move(items));
      walk.credits.release();
    }
    if (gone) continue;
    if (!result.ok()) return result.takeError();
    return resourceVersion;
  }
}

Result<ListAllResult> listAll(Client& c, const Resource& r, const std::string& ns, ListOptions opts) {
  ListAllResult out;
  ASSIGN_OR_RETURN(out.resourceVersion,
                   listPages(
                       c, r, ns, std::move(opts), [&] { out.items.clear(); },
                       [&](std::vector<Json>&& page) {
                         for (auto& item : page) out.items.push_back(std::move(item));
                       }));
  return out;
}

}  // namespace keygate::kube
