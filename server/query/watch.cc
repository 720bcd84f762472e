#include "server/query/watch.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"
#include "server/engine/dates.h"

namespace saasmetrics::query {
namespace {

// FNV-1a, 64 bits.
class Fnv {
 public:
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ULL;
  }
  void Int(int64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<unsigned char>(static_cast<uint64_t>(v) >> (8 * i));
    Bytes(b, 8);
  }
  void Text(absl::string_view s) {
    Int(static_cast<int64_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

absl::CivilDay LastEndedDay(absl::Time now, absl::TimeZone tz) {
  return absl::ToCivilDay(now, tz) - 1;
}

std::string TransitionFingerprint(absl::CivilDay day,
                                  const std::vector<const TransitionRow*>& rows) {
  Fnv h;
  h.Text(engine::FormatIsoDate(day));
  for (const TransitionRow* r : rows) {
    h.Text(r->customer_id);
    h.Int(static_cast<int64_t>(r->from));
    h.Int(static_cast<int64_t>(r->to));
    h.Int(r->reasons);
    h.Int(r->mrr);
    h.Int(r->score.has_value());
    if (r->score.has_value()) {
      int64_t bits;
      std::memcpy(&bits, &*r->score, sizeof bits);
      h.Int(bits);
    }
  }
  return absl::StrFormat("%016x", h.value());
}

std::vector<TransitionDay> TransitionDays(const std::vector<TransitionRow>& rows,
                                          std::optional<engine::HealthGroup> to,
                                          absl::CivilDay start, absl::CivilDay end) {
  std::vector<TransitionDay> days;
  if (end < start) return days;
  days.resize(static_cast<size_t>(end - start + 1));
  for (size_t i = 0; i < days.size(); ++i) days[i].day = start + static_cast<int64_t>(i);
  for (const TransitionRow& r : rows) {
    if (r.day < start || r.day > end || (to.has_value() && r.to != *to)) continue;
    days[static_cast<size_t>(r.day - start)].rows.push_back(&r);
  }
  for (TransitionDay& d : days) d.fingerprint = TransitionFingerprint(d.day, d.rows);
  return days;
}

std::vector<DayToSend> DaysToSend(const std::vector<TransitionDay>& days,
                                  absl::flat_hash_map<absl::CivilDay, std::string>& held) {
  std::vector<DayToSend> out;
  for (const TransitionDay& d : days) {
    auto [it, is_new] = held.try_emplace(d.day, d.fingerprint);
    if (is_new) {
      out.push_back({&d, false});
    } else if (it->second != d.fingerprint) {
      it->second = d.fingerprint;
      out.push_back({&d, true});
    }
  }
  return out;
}

}  // namespace saasmetrics::query
