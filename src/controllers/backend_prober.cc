#include "controllers/backend_prober.h"

#include "common/log.h"

namespace keygate::controllers {
namespace {
const log::Logger& logger() {
  static const log::Logger l("backend.prober");
  return l;
}
}  // namespace

BackendProber::BackendProber(const BackendSet& backends, std::chrono::milliseconds interval, Report report)
    : backends_(backends), interval_(interval), report_(std::move(report)) {}

BackendProber::~BackendProber() { stop(); }

void BackendProber::start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void BackendProber::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackendProber::probeAll() {
  for (const std::string& name : backends_.names()) {
    backends::KeyBackend* b = backends_.find(name);
    if (!b) continue;
    Status st = b->probe();
    const bool up = st.ok();
    auto it = last_.find(name);
    if (it == last_.end() || it->second != up) {
      if (up) logger().info("backend is up", {{"backend", name}});
      else logger().error("backend probe failed", {{"backend", name}, {"error", st.error().toString()}});
      last_[name] = up;
    }
    report_(name, up);
  }
}

void BackendProber::run() {
  for (;;) {
    probeAll();
    bool anyDown = false;
    for (const auto& [_, up] : last_) anyDown |= !up;
    const auto wait = anyDown ? std::min(interval_, std::chrono::milliseconds(5000)) : interval_;
    std::unique_lock<std::mutex> l(mu_);
    if (cv_.wait_for(l, wait, [this] { return stopping_; })) return;
  }
}

}  // namespace keygate::controllers
