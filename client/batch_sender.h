// Sending many ingest items the way saasctl does: batches over pipelined StreamIngest
// streams (round robin, so the server stores several at once), acks counted, a rejected batch's
// violations traced back to where each item came from (file:line:column), and a progress line on a
// terminal.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/cli_output.h"
#include "client/client.h"

namespace saasmetrics::cli {

class BatchSender {
 public:
  // `total_units`: the size of the whole job in the units Send() reports progress in
  // (bytes of a file, items of a list); 0 when unknown. `progress`: draw a progress line
  // on stderr (a terminal). `window`: batches in flight on each of `streams` streams.
  BatchSender(client::Client& client, int window, std::string label, int64_t total_units,
              bool progress, int streams = 1);
  ~BatchSender();

  // Where item i of a batch came from ("data.csv:12"), and for a violation of
  // `field` in it, optionally the column ("data.csv:12:4").
  using Locate = std::function<std::string(int item, const std::string& field)>;

  // Sends one batch (its items of one kind); `units_done` is the job's progress after it.
  // Fails only if the stream does; a rejected batch shows in rejected().
  absl::Status Send(v1::IngestBatch batch, Locate locate, int64_t units_done);
  // Waits for every ack. The first rejected batch as INVALID_ARGUMENT (or the code the
  // server gave), one located violation per line.
  absl::Status Finish();

  bool rejected() const { return rejected_; }
  int64_t sent() const { return sent_; }
  int64_t accepted() const { return accepted_; }
  int64_t duplicates() const { return duplicates_; }
  absl::Duration elapsed() const { return absl::Now() - start_; }
  // "12,345 items (12,000 new, 345 already there) in 2.1 s, 5,878 items/s"
  std::string Summary() const;

 private:
  void OnAck(const v1::IngestAck& ack);
  void DrawProgress(int64_t units_done);

  client::Client& client_;
  std::string label_;
  int64_t total_units_;
  bool progress_;
  absl::Time start_;
  absl::Time last_draw_ = absl::InfinitePast();
  int64_t next_batch_ = 0;
  std::atomic<int64_t> sent_{0}, accepted_{0}, duplicates_{0};
  std::atomic<bool> rejected_{false};
  absl::Mutex mu_;
  std::map<std::string, Locate> pending_ ABSL_GUARDED_BY(mu_);  // batch id → locator
  absl::Status rejection_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<client::IngestStream>> streams_;
};

}  // namespace saasmetrics::cli
