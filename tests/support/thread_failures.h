#pragma once
// Failures reported from several threads of one test: how many, and the first one's text
// (what the assertion prints).
#include <mutex>
#include <string>

namespace keygate::testing {

class ThreadFailures {
 public:
  void operator()(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    if (first_.empty()) first_ = what;
    ++count_;
  }
  int count() const {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }
  std::string first() const {
    std::lock_guard<std::mutex> l(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::string first_;
};

}  // namespace keygate::testing
