// Which tenants' data changed, across every replica on one database: after a write commits,
// the replica that stored it calls Written(tenant); the feed sends PostgreSQL a NOTIFY
// (coalesced per tenant, at most one per `min_notify_interval`) on its own connection,
// which also LISTENs, so every replica's feed — this one included — hears it and calls the
// tenant's subscribers. Nothing runs while nothing changes: the feed's loop sleeps in poll()
// on the database socket and a wake-up pipe, on a thread lent by a pool made in main.
//
// The NOTIFY is sent after the write's commit, never inside it: a NOTIFY in a writing
// transaction takes a database-wide lock at commit, which would serialise every ingest
// commit. A replica that dies between its commit and its NOTIFY leaves that write unheard
// until the next one (or the next day's end, for a watch). When the feed's connection
// breaks, it reconnects with backoff and then calls every subscriber once (what changed
// meanwhile is unknown).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace saasmetrics::store {

struct ChangeFeedOptions {
  std::string conninfo;
  int connect_timeout_seconds = 5;
  absl::Duration min_notify_interval = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  std::string channel = "saasmetrics_changes";
  std::function<void(absl::string_view)> log;  // a lost or refused connection, once each
};

class ChangeFeed {
 public:
  explicit ChangeFeed(ChangeFeedOptions options);
  ~ChangeFeed();  // stops the loop and waits for it; no subscriber is called after it returns
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Runs a task on another thread (a pool's); false when it cannot.
  using Executor = std::function<bool(std::function<void()>)>;
  // Starts the loop (connecting in the background) on a thread `run` lends until the feed
  // is destroyed; false when `run` refused it. Once.
  bool Start(const Executor& run);

  // A write for `tenant_id` committed (on this replica).
  void Written(const std::string& tenant_id);

  // Calls `fn` (on the feed's loop; it must not block) whenever any replica wrote for
  // `tenant_id`. Returns an id for Unsubscribe, which returns only once `fn` is not running
  // and will not run again.
  int64_t Subscribe(const std::string& tenant_id, std::function<void()> fn);
  void Unsubscribe(int64_t id);

  bool listening() const { return listening_; }  // connected and LISTENing
  int64_t notifications_sent() const { return sent_; }
  int64_t notifications_heard() const { return heard_; }

 private:
  struct Connection;  // pqxx; change_feed.cc
  void Run();
  void Wake();
  // Calls the subscribers of `tenant_id` (every tenant's when empty).
  void Dispatch(const std::string& tenant_id);

  const ChangeFeedOptions options_;
  int wake_pipe_[2] = {-1, -1};
  absl::Mutex run_mu_;
  bool running_ ABSL_GUARDED_BY(run_mu_) = false;  // the loop is on its thread
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::atomic<int64_t> sent_{0}, heard_{0};

  absl::Mutex mu_;
  absl::flat_hash_set<std::string> pending_ ABSL_GUARDED_BY(mu_);  // tenants to NOTIFY for
  struct Subscriber {
    std::string tenant_id;
    std::function<void()> fn;
  };
  absl::flat_hash_map<int64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Held while subscribers are called, so Unsubscribe can wait them out.
  absl::Mutex dispatch_mu_;
};

}  // namespace saasmetrics::store
