// Keeping warm what is warm: after a write of subscription events, the tenant's cached
// history is brought up to date on the loader pool, off the query path, so that the
// next query (a dashboard refreshing after a billing event) finds it current instead of
// catching up itself. Writes to one tenant coalesce: at most one refresh runs per tenant,
// and one more follows it when writes arrived meanwhile. A tenant with nothing cached is
// left alone (a refresh never loads a cold tenant), a pool too busy to take the refresh
// skips it, and a refresh that fails changes nothing: each query still brings what it
// reads up to date itself, so this only ever saves work, never decides an answer.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/query/reader.h"
#include "server/query/thread_pool.h"

namespace saasmetrics::query {

class Refresher {
 public:
  // `deadline`: how long one refresh may take.
  Refresher(Reader& reader, ThreadPool& pool, absl::Duration deadline = absl::Seconds(30))
      : reader_(reader), pool_(pool), deadline_(deadline) {}
  ~Refresher() { WaitIdle(); }  // waits for the refreshes it started
  Refresher(const Refresher&) = delete;
  Refresher& operator=(const Refresher&) = delete;

  // Subscription events of `tenant_id` were stored.
  void SubscriptionsWritten(const std::string& tenant_id);

  // Returns once no refresh is queued or running.
  void WaitIdle();
  // Refreshes run to their end so far (for tests and metrics).
  int64_t refreshes() const;

 private:
  void Run(const std::string& tenant_id);

  Reader& reader_;
  ThreadPool& pool_;
  const absl::Duration deadline_;
  mutable absl::Mutex mu_;
  // Tenants with a refresh queued or running → whether writes came after it started.
  absl::flat_hash_map<std::string, bool> active_ ABSL_GUARDED_BY(mu_);
  int64_t refreshes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace saasmetrics::query
