#include "client/batch_sender.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/records.h"

namespace saasmetrics::cli {
namespace {

// "events[7].subject" → {7, "subject"}; {-1, field} when it names no item.
std::pair<int, std::string> ItemField(const std::string& field) {
  const size_t open = field.find('[');
  const size_t close = field.find(']');
  int index = -1;
  if (open == std::string::npos || close == std::string::npos || close < open ||
      !absl::SimpleAtoi(field.substr(open + 1, close - open - 1), &index)) {
    return {-1, field};
  }
  std::string rest = field.substr(close + 1);
  if (!rest.empty() && rest[0] == '.') rest.erase(0, 1);
  return {index, rest};
}

}  // namespace

BatchSender::BatchSender(client::Client& client, int window, std::string label, int64_t total_units,
                         bool progress, int streams)
    : client_(client),
      label_(std::move(label)),
      total_units_(total_units),
      progress_(progress),
      start_(absl::Now()) {
  for (int i = 0; i < std::max(1, streams); ++i) {
    streams_.push_back(std::make_unique<client::IngestStream>(
        client, window, [this](const v1::IngestAck& ack) { OnAck(ack); }));
  }
}

BatchSender::~BatchSender() = default;

void BatchSender::OnAck(const v1::IngestAck& ack) {
  Locate locate;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(ack.batch_id());
    if (it != pending_.end()) {
      locate = std::move(it->second);
      pending_.erase(it);
    }
  }
  if (ack.error_code() == 0) {
    accepted_ += ack.result().accepted();
    duplicates_ += ack.result().duplicates();
    return;
  }
  // With violations, each is listed where its item came from; otherwise the server's words.
  std::string message = ack.violations_size() == 0
                            ? ack.error_message()
                            : "the server rejected a batch; nothing of it was stored:";
  constexpr int kShown = 20;
  for (int i = 0; i < ack.violations_size() && i < kShown; ++i) {
    const auto& v = ack.violations(i);
    auto [item, field] = ItemField(v.field());
    std::string where = item >= 0 && locate ? locate(item, field) : "";
    absl::StrAppend(&message, "\n  ", where.empty() ? "" : where + ": ", "field ", field, ": ",
                    v.description());
  }
  if (ack.violations_size() > kShown) {
    absl::StrAppend(&message, "\n  … and ", ack.violations_size() - kShown, " more");
  }
  absl::MutexLock lock(&mu_);
  if (rejection_.ok()) {
    rejection_ = absl::Status(static_cast<absl::StatusCode>(ack.error_code()), message);
  }
  rejected_ = true;
}

absl::Status BatchSender::Send(v1::IngestBatch batch, Locate locate, int64_t units_done) {
  batch.set_batch_id(absl::StrCat(label_, "#", next_batch_++));
  const int n = client::BatchSize(batch);
  {
    absl::MutexLock lock(&mu_);
    pending_[batch.batch_id()] = std::move(locate);
  }
  // Batches take turns on the streams (next_batch_ was counted for this one above).
  absl::Status s = streams_[(next_batch_ - 1) % streams_.size()]->Send(std::move(batch));
  if (!s.ok()) return s;
  sent_ += n;
  DrawProgress(units_done);
  return absl::OkStatus();
}

absl::Status BatchSender::Finish() {
  absl::Status s;
  for (auto& stream : streams_) {
    absl::Status finished = stream->Finish();
    if (s.ok()) s = finished;
  }
  if (progress_) std::cerr << "\r\033[K" << std::flush;
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return rejection_;
}

void BatchSender::DrawProgress(int64_t units_done) {
  if (!progress_) return;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < absl::Milliseconds(200)) return;
  last_draw_ = now;
  const double seconds = std::max(1e-3, absl::ToDoubleSeconds(now - start_));
  std::string line =
      absl::StrFormat("%s  %s items  %s/s", label_, Thousands(sent_), Thousands(sent_ / seconds));
  if (total_units_ > 0 && units_done > 0) {
    const double f = std::min(1.0, static_cast<double>(units_done) / total_units_);
    const int width = 24, filled = static_cast<int>(f * width);
    const int64_t eta = static_cast<int64_t>(seconds * (1 - f) / f);
    line = absl::StrFormat("[%s%s] %3d%%  %s  ETA %d:%02d", std::string(filled, '#'),
                           std::string(width - filled, '.'), static_cast<int>(f * 100), line,
                           eta / 60, eta % 60);
  }
  std::cerr << "\r\033[K" << line << std::flush;
}

std::string BatchSender::Summary() const {
  const double seconds = absl::ToDoubleSeconds(elapsed());
  return absl::StrFormat(
      "%s items (%s new, %s already there) in %.1f s, %s items/s",
      Thousands(accepted_ + duplicates_), Thousands(accepted_), Thousands(duplicates_), seconds,
      Thousands(static_cast<int64_t>((accepted_ + duplicates_) / std::max(seconds, 1e-3))));
}

}  // namespace saasmetrics::cli
