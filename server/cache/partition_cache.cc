#include "server/cache/partition_cache.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace saasmetrics::cache {

PartitionCache::PartitionCache(size_t budget_bytes, CacheObserver observer)
    : budget_(budget_bytes), observer_(std::move(observer)) {}

absl::StatusOr<std::shared_ptr<const Snapshot>> PartitionCache::Get(const PartitionKey& key,
                                                                    int64_t version,
                                                                    const Loader& load,
                                                                    absl::Time deadline) {
  std::shared_ptr<Load> pending;
  bool mine = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.version == version) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      if (observer_.hit) observer_.hit();
      return it->second.snapshot;
    }
    if (observer_.miss) observer_.miss();
    auto& slot = loading_[key];
    if (slot == nullptr || slot->version != version) {
      slot = std::make_shared<Load>();
      slot->version = version;
      mine = true;
    }
    pending = slot;
  }
  if (!mine) {
    absl::MutexLock lock(&mu_);
    const absl::Condition done(
        +[](Load* l) { return l->done; }, pending.get());
    if (!mu_.AwaitWithDeadline(done, deadline)) {
      return absl::DeadlineExceededError(
          "deadline passed while waiting for another call's load of the same partition");
    }
    return pending->result;
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<const Snapshot>> result;
  // Waiters must be completed on every path: a loader that throws fails them all.
  try {
    result = load();
  } catch (const std::exception& e) {
    result = absl::InternalError(absl::StrCat("partition load failed: ", e.what()));
  } catch (...) {
    result = absl::InternalError("partition load failed with an unknown exception");
  }
  if (result.ok() && *result == nullptr)
    result = absl::InternalError("partition load gave nothing");
  if (observer_.loaded) observer_.loaded(absl::Now() - start);
  // Measured before the lock: a snapshot's size can take a walk over it (every customer
  // id of a usage index or history), which must not hold up every other cache user.
  const size_t size = result.ok() ? (*result)->bytes() : 0;
  absl::MutexLock lock(&mu_);
  pending->result = result;
  pending->done = true;
  auto it = loading_.find(key);
  if (it != loading_.end() && it->second == pending) loading_.erase(it);
  if (result.ok()) InsertLocked(key, version, *result, size);
  return result;
}

std::optional<PartitionCache::Held> PartitionCache::Peek(const PartitionKey& key) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return Held{it->second.version, it->second.snapshot};
}

void PartitionCache::InsertLocked(const PartitionKey& key, int64_t version,
                                  std::shared_ptr<const Snapshot> snapshot, size_t size) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    // A newer version replaces an older one; an older load never replaces a newer one.
    if (it->second.version > version) return;
    bytes_ -= it->second.bytes;
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  if (size > budget_) {
    Report();
    return;  // served to its callers, too large to keep
  }
  lru_.push_front(key);
  entries_[key] = Entry{version, std::move(snapshot), size, lru_.begin()};
  bytes_ += size;
  while (bytes_ > budget_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
    if (observer_.eviction) observer_.eviction();
  }
  Report();
}

void PartitionCache::Report() {
  if (observer_.size) observer_.size(bytes_, entries_.size());
}

size_t PartitionCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

size_t PartitionCache::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace saasmetrics::cache
