// listPages and listAll (client.h).
#include "kube/meta_scan.h"

#include <atomic>
#include <future>
#include <memory>
#include <semaphore>

#include "common/json.h"
#include "kube/client.h"

namespace keygate::kube {

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
