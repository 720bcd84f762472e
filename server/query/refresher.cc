#include "server/query/refresher.h"

namespace saasmetrics::query {

void Refresher::WaitIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_map<std::string, bool>* active) { return active->empty(); }, &active_));
}

void Refresher::SubscriptionsWritten(const std::string& tenant_id) {
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = active_.try_emplace(tenant_id, false);
    if (!inserted) {
      it->second = true;  // the running refresh goes round once more
      return;
    }
  }
  if (!pool_.TrySubmit([this, tenant_id] { Run(tenant_id); })) {
    absl::MutexLock lock(&mu_);  // the pool is busy: queries catch up themselves
    active_.erase(tenant_id);
  }
}

void Refresher::Run(const std::string& tenant_id) {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      active_[tenant_id] = false;
    }
    const Context ctx{.deadline = absl::Now() + deadline_};
    // A failure changes nothing: the next query loads what it needs (and says why not).
    (void)reader_.Refresh(tenant_id, ctx);
    absl::MutexLock lock(&mu_);
    ++refreshes_;
    auto it = active_.find(tenant_id);
    if (!it->second) {
      active_.erase(it);
      return;
    }
  }
}

int64_t Refresher::refreshes() const {
  absl::MutexLock lock(&mu_);
  return refreshes_;
}

}  // namespace saasmetrics::query
