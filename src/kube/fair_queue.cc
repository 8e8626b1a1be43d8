#include "kube/fair_queue.h"

namespace keygate::kube {
namespace {

// "namespace/name" -> "namespace"; cluster-scoped keys ("name") share the "" turn.
std::string namespaceOfKey(const std::string& key) {
  auto slash = key.find('/');
  return slash == std::string::npos ? std::string() : key.substr(0, slash);
}

}  // namespace

void FairQueue::push_back(std::string key) {
  std::string ns = namespaceOfKey(key);
  auto& q = byNamespace_[ns];
  if (q.empty()) turns_.push_back(std::move(ns));
  q.push_back(std::move(key));
  ++size_;
}

std::string FairQueue::pop_front() {
  std::string ns = std::move(turns_.front());
  turns_.pop_front();
  auto it = byNamespace_.find(ns);
  std::string key = std::move(it->second.front());
  it->second.pop_front();
  if (it->second.empty()) {
    byNamespace_.erase(it);
  } else {
    turns_.push_back(std::move(ns));  // its next key waits for every other namespace's turn
  }
  --size_;
  return key;
}

void FairQueue::clear() {
  byNamespace_.clear();
  turns_.clear();
  size_ = 0;
}

}  // namespace keygate::kube
