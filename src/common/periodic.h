#pragma once
// Runs a function every `interval` on a thread of its own until stopped (or destroyed). The
// first run is one interval after start(). stop() wakes the thread and joins it.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace keygate {

class Periodic {
 public:
  Periodic(std::chrono::milliseconds interval, std::function<void()> fn) : interval_(interval), fn_(std::move(fn)) {}
  ~Periodic() { stop(); }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

  void start() {
    std::lock_guard<std::mutex> l(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> l(mu_);
      while (!cv_.wait_for(l, interval_, [this] { return stopping_; })) {
        l.unlock();
        fn_();
        l.lock();
      }
    });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  const std::chrono::milliseconds interval_;
  std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keygate
