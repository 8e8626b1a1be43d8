#pragma once
// The ready keys of a WorkQueue, fair across namespaces (tenants): every namespace with keys
// waiting gets a turn in round-robin order, FIFO within a namespace. One tenant with 50,000
// keys to reconcile (a restart, a bulk import) does not make another tenant's single key
// wait behind all of them: it is handed out within one turn of each busy namespace.
// Not thread-safe (the WorkQueue's lock guards it).

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_map>

namespace keygate::kube {

class FairQueue {
 public:
  void push_back(std::string key);
  // Precondition: !empty().
  std::string pop_front();
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  void clear();

 private:
  std::unordered_map<std::string, std::deque<std::string>> byNamespace_;
  std::deque<std::string> turns_;  // namespaces with keys waiting, in turn order
  size_t size_ = 0;
};

}  // namespace keygate::kube
