#pragma once
// Probes every configured backend periodically (KeyBackend::probe) and reports each result,
// for keygate_backend_up and the KeygateBackendDown alert. The first round runs at start();
// a backend that fails is probed again sooner (every min(interval, 5s)) so that recovery
// shows quickly. Transitions are logged once (down with the error, up again).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "controllers/backend_set.h"

namespace keygate::controllers {

class BackendProber {
 public:
  using Report = std::function<void(const std::string& backend, bool up)>;
  BackendProber(const BackendSet& backends, std::chrono::milliseconds interval, Report report);
  ~BackendProber();  // stops
  BackendProber(const BackendProber&) = delete;
  BackendProber& operator=(const BackendProber&) = delete;

  void start();
  void stop();
  // One round now, on the caller's thread (tests; start() runs the same code).
  void probeAll();

 private:
  void run();

  const BackendSet& backends_;
  const std::chrono::milliseconds interval_;
  Report report_;
  std::map<std::string, bool> last_;  // probe thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keygate::controllers
