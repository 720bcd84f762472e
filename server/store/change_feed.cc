#include "server/store/change_feed.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <pqxx/pqxx>
#include <vector>

#include "absl/time/clock.h"
#include "server/store/conninfo.h"
#include "server/store/tx.h"

namespace saasmetrics::store {

struct ChangeFeed::Connection {
  // Hears the channel: each payload is a tenant id.
  class Receiver : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection& c, const std::string& channel, ChangeFeed* feed)
        : pqxx::notification_receiver(c, channel), feed_(feed) {}
    void operator()(const std::string& payload, int) override {
      ++feed_->heard_;
      feed_->Dispatch(payload);
    }

   private:
    ChangeFeed* feed_;
  };

  std::unique_ptr<pqxx::connection> pq;
  std::unique_ptr<Receiver> receiver;  // destroyed before `pq`
  ~Connection() { receiver.reset(); }
};

ChangeFeed::ChangeFeed(ChangeFeedOptions options) : options_(std::move(options)) {
  if (pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) wake_pipe_[0] = wake_pipe_[1] = -1;
}

ChangeFeed::~ChangeFeed() {
  stop_ = true;
  Wake();
  absl::MutexLock lock(&run_mu_);
  run_mu_.Await(absl::Condition(
      +[](bool* running) { return !*running; }, &running_));
  for (int fd : wake_pipe_) {
    if (fd >= 0) close(fd);
  }
}

bool ChangeFeed::Start(const Executor& run) {
  {
    absl::MutexLock lock(&run_mu_);
    if (running_) return true;
    running_ = true;
  }
  const bool started = run([this] {
    Run();
    absl::MutexLock lock(&run_mu_);
    running_ = false;
  });
  if (!started) {
    absl::MutexLock lock(&run_mu_);
    running_ = false;
  }
  return started;
}

void ChangeFeed::Wake() {
  if (wake_pipe_[1] < 0) return;
  const char byte = 1;
  [[maybe_unused]] ssize_t n = write(wake_pipe_[1], &byte, 1);  // full pipe: a wake is pending
}

void ChangeFeed::Written(const std::string& tenant_id) {
  {
    absl::MutexLock lock(&mu_);
    if (!pending_.insert(tenant_id).second) return;  // already on its way
  }
  Wake();
}

int64_t ChangeFeed::Subscribe(const std::string& tenant_id, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  subscribers_[id] = Subscriber{tenant_id, std::move(fn)};
  return id;
}

void ChangeFeed::Unsubscribe(int64_t id) {
  {
    absl::MutexLock lock(&mu_);
    subscribers_.erase(id);
  }
  absl::MutexLock wait(&dispatch_mu_);  // a dispatch that copied it has finished
}

void ChangeFeed::Dispatch(const std::string& tenant_id) {
  absl::MutexLock dispatching(&dispatch_mu_);
  std::vector<std::function<void()>> fns;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, s] : subscribers_) {
      if (tenant_id.empty() || s.tenant_id == tenant_id) fns.push_back(s.fn);
    }
  }
  for (auto& fn : fns) fn();
}

void ChangeFeed::Run() {
  std::unique_ptr<Connection> conn;
  absl::Duration backoff = absl::Milliseconds(100);
  absl::Time next_send = absl::InfinitePast();
  bool connected_before = false;
  // Waits for the pipe (and the database socket when `db` >= 0) at most `timeout`; false
  // when the socket hung up.
  auto wait = [this](int db, absl::Duration timeout) {
    pollfd fds[2] = {{wake_pipe_[0], POLLIN, 0}, {db, POLLIN, 0}};
    const int ms = timeout == absl::InfiniteDuration()
                       ? -1
                       : static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
    poll(fds, db >= 0 ? 2 : 1, ms);
    if (fds[0].revents & POLLIN) {
      char buf[64];
      while (read(wake_pipe_[0], buf, sizeof buf) > 0) {
      }
    }
    return db < 0 || (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
  };
  while (!stop_) {
    if (conn == nullptr) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> pq =
          OpenConnection(options_.conninfo, options_.connect_timeout_seconds);
      if (pq.ok()) {
        try {
          conn = std::make_unique<Connection>();
          conn->pq = std::move(*pq);
          conn->receiver =
              std::make_unique<Connection::Receiver>(*conn->pq, options_.channel, this);
        } catch (const std::exception& e) {
          if (options_.log) options_.log(absl::StrCat("change feed: cannot listen: ", e.what()));
          conn.reset();
        }
      }
      if (conn == nullptr) {
        wait(-1, backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      backoff = absl::Milliseconds(100);
      listening_ = true;
      // Writes made while the feed was not listening were not heard: wake everyone once.
      if (connected_before) Dispatch("");
      connected_before = true;
    }
    std::vector<std::string> send;
    try {
      {
        absl::MutexLock lock(&mu_);
        if (!pending_.empty() && absl::Now() >= next_send) {
          send.assign(pending_.begin(), pending_.end());
          pending_.clear();
        }
      }
      if (!send.empty()) {
        pqxx::nontransaction tx(*conn->pq);
        for (const std::string& tenant : send) {
          tx.exec("SELECT pg_notify(" + tx.quote(options_.channel) + ", " + tx.quote(tenant) + ")");
          ++sent_;
        }
        tx.commit();
        next_send = absl::Now() + options_.min_notify_interval;
        send.clear();
      }
      conn->pq->get_notifs();
      bool pending;
      {
        absl::MutexLock lock(&mu_);
        pending = !pending_.empty();
      }
      if (stop_) break;
      const int db = conn->pq->sock();
      if (db < 0 || !wait(db, pending ? next_send - absl::Now() : absl::InfiniteDuration())) {
        throw pqxx::broken_connection("the connection closed");
      }
      conn->pq->get_notifs();
      if (!conn->pq->is_open()) throw pqxx::broken_connection("the connection closed");
    } catch (const std::exception& e) {
      if (!send.empty()) {  // not sent: next time
        absl::MutexLock lock(&mu_);
        pending_.insert(send.begin(), send.end());
      }
      if (options_.log)
        options_.log(absl::StrCat("change feed: lost the database (", e.what(), "); reconnecting"));
      listening_ = false;
      conn.reset();
    }
  }
  listening_ = false;
}

}  // namespace saasmetrics::store
