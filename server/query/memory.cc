#include "server/query/memory.h"

#include "absl/strings/str_cat.h"

namespace saasmetrics::query {
namespace {

std::string Flag(int64_t limit) {
  return absl::StrCat("--query_memory_bytes=", limit, " (", limit >> 20, " MiB)");
}

}  // namespace

int64_t MemoryBudget::in_use() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

int MemoryBudget::waiting_holders() const {
  absl::MutexLock lock(&mu_);
  return waiting_holders_;
}

absl::Status MemoryBudget::Take(int64_t bytes, int64_t held, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (limit_ > 0 && held + bytes > limit_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the query needs more than ", Flag(limit_), " beyond what the cache holds (",
                     (held + bytes) >> 20,
                     " MiB so far): narrow its date range, or raise the flag or --cache_bytes"));
  }
  const bool holder = held > 0;
  if (limit_ > 0 && used_ + bytes > limit_) {
    if (holder) {
      ++waiting_holders_;
      changed_.SignalAll();  // the others re-check whether every holder now waits
    }
    absl::Status result;
    while (used_ + bytes > limit_) {
      if (holder && waiting_holders_ >= holders_) {
        result = absl::ResourceExhaustedError(
            absl::StrCat("query memory (", Flag(limit_),
                         ") is taken by concurrent queries that each wait for more; retry"));
        break;
      }
      // The clock decides, not the wait's own verdict (a timed wait may end a hair early).
      changed_.WaitWithDeadline(&mu_, deadline);
      if (used_ + bytes > limit_ && absl::Now() >= deadline) {
        result = absl::DeadlineExceededError(absl::StrCat(
            "the call's deadline passed while it waited for query memory (", Flag(limit_), ")"));
        break;
      }
    }
    if (holder) --waiting_holders_;
    if (!result.ok()) return result;
  }
  if (!holder) ++holders_;
  used_ += bytes;
  return absl::OkStatus();
}

void MemoryBudget::Give(int64_t bytes, bool last) {
  absl::MutexLock lock(&mu_);
  used_ -= bytes;
  if (last) --holders_;
  changed_.SignalAll();
}

MemoryShare::~MemoryShare() {
  absl::MutexLock lock(&mu_);
  if (budget_ != nullptr && held_ > 0) budget_->Give(held_, /*last=*/true);
}

absl::Status MemoryShare::Charge(MemoryBudget& budget, int64_t bytes, absl::Time deadline) {
  if (bytes <= 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (budget_ == nullptr) budget_ = &budget;
  absl::Status s = budget_->Take(bytes, held_, deadline);
  if (s.ok()) held_ += bytes;
  return s;
}

int64_t MemoryShare::held() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

}  // namespace saasmetrics::query
