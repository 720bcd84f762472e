#include "server/engine/model.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/engine/dates.h"
#include "server/engine/renewals.h"
#include "server/engine/usage.h"

namespace saasmetrics::engine {
namespace {

constexpr int kCappedDays = 365;

// Per ledger customer, its run of a list ordered by customer: [begin[c], begin[c + 1]).
template <typename T>
std::vector<uint32_t> RunsOf(const std::vector<T>& list, size_t customers) {
  std::vector<uint32_t> begin(customers + 1, 0);
  for (const T& x : list) ++begin[static_cast<size_t>(x.customer) + 1];
  for (size_t c = 1; c < begin.size(); ++c) begin[c] += begin[c - 1];
  return begin;
}

std::array<uint8_t, 32> Sha256(const std::string& s) {
  std::array<uint8_t, 32> out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(s.data()), s.size());
  return out;
}

bool LongTerm(const LedgerEvent& e) {
  return NominalTwelfths({static_cast<IntervalUnit>(e.interval_unit), e.interval_count}) >=
         NominalTwelfths({IntervalUnit::kYear, 1});
}

// The data of every customer, indexed by ledger id.
struct Indexed {
  size_t customers = 0;
  std::vector<LedgerEvent> events;  // by customer, then (at_us, seq)
  std::vector<uint32_t> event_begin, movement_begin, pause_begin, response_begin;
  std::vector<ResponsePoint> responses;  // by customer, then (at_us, seq)

  // `only`, when given, marks the customers whose events are wanted (by ledger id).
  explicit Indexed(const ModelInputs& in, const std::vector<bool>* only = nullptr) {
    customers = in.customer_ids->size();
    for (const std::vector<LedgerEvent>* month : *in.events) {
      if (only == nullptr) {
        events.insert(events.end(), month->begin(), month->end());
        continue;
      }
      for (const LedgerEvent& e : *month) {
        if ((*only)[static_cast<size_t>(e.customer)]) events.push_back(e);
      }
    }
    std::sort(events.begin(), events.end(), [](const LedgerEvent& a, const LedgerEvent& b) {
      return std::tie(a.customer, a.at_us, a.seq) < std::tie(b.customer, b.at_us, b.seq);
    });
    event_begin = RunsOf(events, customers);
    movement_begin = RunsOf(*in.movements, customers);
    pause_begin = RunsOf(*in.pauses, customers);
    if (in.responses != nullptr) responses = *in.responses;
    std::sort(responses.begin(), responses.end(),
              [](const ResponsePoint& a, const ResponsePoint& b) {
                return std::tie(a.customer, a.at_us, a.seq) < std::tie(b.customer, b.at_us, b.seq);
              });
    response_begin = RunsOf(responses, customers);
  }
};

// MRR at the end of `day` from a customer's movements.
int64_t MrrAt(const ModelInputs& in, const Indexed& ix, int32_t c, absl::CivilDay day) {
  int64_t mrr = 0;
  for (uint32_t i = ix.movement_begin[c]; i < ix.movement_begin[c + 1]; ++i) {
    const Movement& m = (*in.movements)[i];
    if (m.day > day) break;
    mrr = m.after;
  }
  return mrr;
}

// Churned (MRR 0, no subscription paused, having paid) at some instant of [from, until).
bool ChurnsWithin(const Indexed& ix, int32_t c, int64_t from_us, int64_t until_us) {
  struct Sub {
    int32_t id;
    int64_t mrr;
    bool paused;
  };
  std::vector<Sub> subs;
  const auto apply = [&](const LedgerEvent& e) {
    for (Sub& s : subs) {
      if (s.id == e.subscription) {
        s.mrr = e.mrr;
        s.paused = e.paused;
        return;
      }
    }
    subs.push_back({e.subscription, e.mrr, e.paused});
  };
  uint32_t i = ix.event_begin[c];
  const uint32_t end = ix.event_begin[c + 1];
  for (; i < end && ix.events[i].at_us < from_us; ++i) apply(ix.events[i]);
  while (i < end && ix.events[i].at_us < until_us) {
    const int64_t at = ix.events[i].at_us;
    for (; i < end && ix.events[i].at_us == at; ++i) apply(ix.events[i]);
    int64_t mrr = 0;
    bool paused = false;
    for (const Sub& s : subs) {
      mrr += s.mrr;
      paused = paused || s.paused;
    }
    if (mrr == 0 && !paused) return true;
  }
  return false;
}

// The training examples: (customer, month end) paying then, the label window observable.
struct Example {
  int32_t customer = 0;
  int32_t day = 0;  // index into the days
  uint8_t label = 0;
};

std::vector<Example> LabelledExamples(const ModelInputs& in, const Indexed& ix,
                                      const TrainSettings& s) {
  std::vector<Example> out;
  const absl::TimeZone tz = in.usage.tz;
  for (size_t d = 0; d < s.month_ends.size(); ++d) {
    const absl::CivilDay t = s.month_ends[d];
    if (DayStart(t + s.horizon_days + 1, tz) > s.as_of) continue;
    const int64_t from = absl::ToUnixMicros(DayStart(t + 1, tz));
    const int64_t until = absl::ToUnixMicros(DayStart(t + s.horizon_days + 1, tz));
    for (size_t c = 0; c < ix.customers; ++c) {
      const int32_t id = static_cast<int32_t>(c);
      if (ix.movement_begin[c] == ix.movement_begin[c + 1]) continue;
      if (MrrAt(in, ix, id, t) <= 0) continue;
      uint8_t label = 0;
      if (s.kind == ModelKind::kChurn) {
        label = ChurnsWithin(ix, id, from, until) ? 1 : 0;
      } else {
        for (uint32_t i = ix.movement_begin[c]; i < ix.movement_begin[c + 1]; ++i) {
          const Movement& m = (*in.movements)[i];
          if (m.day > t && m.day <= t + s.horizon_days && m.type == MovementType::kExpansion) {
            label = 1;
          }
        }
      }
      out.push_back({id, static_cast<int32_t>(d), label});
    }
  }
  return out;
}

// The numeric features of `rows` (customer, day index), in NumericFeatureNames' order.
absl::StatusOr<Design> NumericFeatures(const ModelInputs& in, const Indexed& ix,
                                       const std::vector<absl::CivilDay>& days,
                                       const std::vector<Example>& rows,
                                       const std::function<bool()>& stop) {
  const bool engagement = in.engagement != nullptr;
  const size_t cols = NumericFeatureNames(engagement).size();
  Design d{.rows = rows.size(), .cols = cols, .x = std::vector<double>(rows.size() * cols, 0)};
  const absl::TimeZone tz = in.usage.tz;
  // Rows by day.
  std::vector<std::vector<size_t>> by_day(days.size());
  for (size_t r = 0; r < rows.size(); ++r) by_day[static_cast<size_t>(rows[r].day)].push_back(r);
  size_t col = 0;
  const size_t kTenure = col++, kMrr = col++, kRatio = col++, kSubs = col++, kLong = col++,
               kPastDue = col++, kDiscount = col++;
  const size_t kScore = engagement ? col++ : 0;
  const size_t kSince = col++, kUse30 = col++, kTrend = col++, kUsers = col++, kNps = col++,
               kNpsNone = col++, kContraction = col++;
  // From the subscription history.
  for (size_t r = 0; r < rows.size(); ++r) {
    double* x = d.x.data() + r * cols;
    const int32_t c = rows[r].customer;
    const absl::CivilDay t = days[static_cast<size_t>(rows[r].day)];
    const uint32_t m0 = ix.movement_begin[c], m1 = ix.movement_begin[c + 1];
    const absl::CivilDay first_paid = (*in.movements)[m0].day;
    x[kTenure] = std::log1p(static_cast<double>(std::max<int64_t>(0, t - first_paid)));
    const int64_t mrr = MrrAt(in, ix, c, t), earlier = MrrAt(in, ix, c, t - 90);
    x[kMrr] = std::log1p(static_cast<double>(mrr) / in.major_unit);
    x[kRatio] = earlier > 0 ? static_cast<double>(mrr) / static_cast<double>(earlier) : 0;
    for (uint32_t i = m0; i < m1; ++i) {
      const Movement& m = (*in.movements)[i];
      if (m.day > t - 90 && m.day <= t && m.type == MovementType::kContraction) x[kContraction] = 1;
    }
    // Each subscription's latest state by the end of t.
    const int64_t until = absl::ToUnixMicros(DayStart(t + 1, tz));
    std::vector<const LedgerEvent*> latest;
    for (uint32_t i = ix.event_begin[c]; i < ix.event_begin[c + 1]; ++i) {
      const LedgerEvent& e = ix.events[i];
      if (e.at_us >= until) break;
      bool found = false;
      for (const LedgerEvent*& l : latest) {
        if (l->subscription == e.subscription) {
          l = &e;
          found = true;
        }
      }
      if (!found) latest.push_back(&e);
    }
    for (const LedgerEvent* e : latest) {
      if ((e->state & kStatePastDue) != 0) x[kPastDue] = 1;
      if (e->mrr <= 0) continue;
      x[kSubs] += 1;
      if (LongTerm(*e)) x[kLong] = 1;
      if ((e->state & kStateDiscount) != 0) x[kDiscount] = 1;
    }
    // The latest survey answer by the end of t.
    x[kNpsNone] = 1;
    for (uint32_t i = ix.response_begin[c]; i < ix.response_begin[c + 1]; ++i) {
      if (ix.responses[i].at_us >= until) break;
      x[kNps] = ix.responses[i].score;
      x[kNpsNone] = 0;
    }
  }
  // Usage: counts and users over the 60 days before each day, one scan per day.
  const UsagePartitions& partitions = *in.usage.partitions;
  if (absl::Status s = CheckUsageIndex(partitions, *in.usage.index); !s.ok()) return s;
  const std::vector<int32_t>& ledger_of_dense = *in.usage.ledger_ids;
  std::vector<int32_t> slot(ix.customers, -1);
  for (size_t day = 0; day < days.size(); ++day) {
    if (stop && stop()) return absl::CancelledError("model features stopped");
    for (size_t k = 0; k < by_day[day].size(); ++k) {
      slot[static_cast<size_t>(rows[by_day[day][k]].customer)] = static_cast<int32_t>(k);
    }
    const absl::CivilDay t = days[day];
    const int64_t end = absl::ToUnixSeconds(DayStart(t + 1, tz));
    const int64_t mid = absl::ToUnixSeconds(DayStart(t - 29, tz));
    const int64_t start = absl::ToUnixSeconds(DayStart(t - 59, tz));
    std::vector<double> last30(by_day[day].size(), 0), prev30(by_day[day].size(), 0);
    absl::flat_hash_set<std::pair<int32_t, absl::string_view>> users;
    for (size_t pi = 0; pi < partitions.size(); ++pi) {
      const UsagePartition& p = *partitions[pi];
      const int64_t month = absl::ToUnixSeconds(absl::FromCivil(p.month, absl::UTCTimeZone()));
      const int64_t next = absl::ToUnixSeconds(absl::FromCivil(p.month + 1, absl::UTCTimeZone()));
      if (next <= start || month >= end) continue;
      const std::vector<int32_t>& dense = *in.usage.index->local_to_dense[pi];
      const auto lo = std::lower_bound(p.second.begin(), p.second.end(),
                                       static_cast<uint32_t>(std::max<int64_t>(0, start - month)));
      for (auto it = lo; it != p.second.end(); ++it) {
        const int64_t at = month + *it;
        if (at >= end) break;
        const size_t e = static_cast<size_t>(it - p.second.begin());
        const int32_t ledger = ledger_of_dense[static_cast<size_t>(dense[p.customer[e]])];
        if (ledger < 0) continue;
        const int32_t k = slot[static_cast<size_t>(ledger)];
        if (k < 0) continue;
        if (at >= mid) {
          last30[k] += 1;
          if (p.user[e] >= 0) users.emplace(k, p.users[p.user[e]]);
        } else {
          prev30[k] += 1;
        }
      }
    }
    std::vector<double> distinct(by_day[day].size(), 0);
    for (const auto& [k, user] : users) distinct[static_cast<size_t>(k)] += 1;
    for (size_t k = 0; k < by_day[day].size(); ++k) {
      double* x = d.x.data() + by_day[day][k] * cols;
      x[kUse30] = std::log1p(last30[k]);
      x[kTrend] = (last30[k] - prev30[k]) / (prev30[k] + 1);
      x[kUsers] = distinct[k];
    }
    // The engagement score at the end of t.
    if (engagement) {
      std::vector<int32_t> customers;
      for (const size_t r : by_day[day]) customers.push_back(rows[r].customer);
      std::vector<size_t> order(customers.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return customers[a] < customers[b]; });
      std::vector<int32_t> sorted;
      for (const size_t o : order) sorted.push_back(customers[o]);
      absl::StatusOr<EngagementScores> scores =
          ScoresOf(in.engagement, in.usage, t, sorted, 0, stop);
      if (!scores.ok()) return scores.status();
      for (size_t i = 0; i < order.size(); ++i) {
        d.x[by_day[day][order[i]] * cols + kScore] = scores->score[i];
      }
    }
    for (const size_t r : by_day[day]) slot[static_cast<size_t>(rows[r].customer)] = -1;
  }
  // Days since the last event: one sweep in time order, read at each day's end.
  std::vector<int64_t> last(ix.customers, std::numeric_limits<int64_t>::min());
  size_t next_day = 0;
  const auto settle = [&](int64_t before) {
    for (; next_day < days.size(); ++next_day) {
      const absl::CivilDay t = days[next_day];
      if (absl::ToUnixSeconds(DayStart(t + 1, tz)) > before) break;
      for (const size_t r : by_day[next_day]) {
        const int64_t at = last[static_cast<size_t>(rows[r].customer)];
        int64_t since = kCappedDays;
        if (at != std::numeric_limits<int64_t>::min()) {
          since =
              std::min<int64_t>(kCappedDays, t - absl::ToCivilDay(absl::FromUnixSeconds(at), tz));
        }
        d.x[r * cols + kSince] = std::log1p(static_cast<double>(since));
      }
    }
  };
  for (size_t pi = 0; pi < partitions.size(); ++pi) {
    if (stop && stop()) return absl::CancelledError("model features stopped");
    const UsagePartition& p = *partitions[pi];
    const int64_t month = absl::ToUnixSeconds(absl::FromCivil(p.month, absl::UTCTimeZone()));
    const std::vector<int32_t>& dense = *in.usage.index->local_to_dense[pi];
    for (size_t e = 0; e < p.events(); ++e) {
      const int64_t at = month + p.second[e];
      settle(at);  // days that ended by this event's instant are read first
      const int32_t ledger = ledger_of_dense[static_cast<size_t>(dense[p.customer[e]])];
      if (ledger >= 0) last[static_cast<size_t>(ledger)] = at;
    }
  }
  settle(std::numeric_limits<int64_t>::max());
  return d;
}

// The encoding of the fields over `rows`: per field its top values by examples.
Encoding EncodingOf(const ModelInputs& in, const std::vector<Example>& rows,
                    const std::vector<size_t>& use) {
  Encoding e;
  e.fields = in.field_names;
  for (const IcpField* f : in.fields) {
    std::vector<int64_t> count(f->names.size(), 0);
    for (const size_t r : use) {
      const size_t c = static_cast<size_t>(rows[r].customer);
      for (uint32_t k = f->begin[c]; k < f->begin[c + 1]; ++k) ++count[f->ids[k]];
    }
    std::vector<int32_t> order;
    for (size_t v = 0; v < count.size(); ++v) {
      if (count[v] > 0) order.push_back(static_cast<int32_t>(v));
    }
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return count[a] != count[b] ? count[a] > count[b] : f->names[a] < f->names[b];
    });
    if (order.size() > static_cast<size_t>(kTopFieldValues)) order.resize(kTopFieldValues);
    std::vector<std::string>& values = e.values.emplace_back();
    for (const int32_t v : order) values.push_back(f->names[v]);
  }
  return e;
}

// Per field, value id → one-hot column within the field (its top values, then `other`).
std::vector<std::vector<int32_t>> ColumnsOf(const ModelInputs& in, const Encoding& e) {
  std::vector<std::vector<int32_t>> out;
  for (size_t f = 0; f < in.fields.size(); ++f) {
    const IcpField& column = *in.fields[f];
    const int32_t other = static_cast<int32_t>(e.values[f].size());
    std::vector<int32_t>& to = out.emplace_back(column.names.size(), other);
    // By the column's names (its `index` is for building it, and may be empty).
    absl::flat_hash_map<absl::string_view, int32_t> wanted;
    for (size_t v = 0; v < e.values[f].size(); ++v) {
      wanted.emplace(e.values[f][v], static_cast<int32_t>(v));
    }
    for (size_t id = 0; id < column.names.size(); ++id) {
      const auto it = wanted.find(column.names[id]);
      if (it != wanted.end()) to[id] = it->second;
    }
  }
  return out;
}

// The full raw design of `use` rows: numeric features, then the one-hot columns.
Design RawDesign(const ModelInputs& in, const Design& numeric, const std::vector<Example>& rows,
                 const std::vector<size_t>& use, const Encoding& e) {
  const std::vector<std::vector<int32_t>> columns = ColumnsOf(in, e);
  size_t cols = numeric.cols;
  for (const auto& v : e.values) cols += v.size() + 1;
  Design d{.rows = use.size(), .cols = cols, .x = std::vector<double>(use.size() * cols, 0)};
  for (size_t i = 0; i < use.size(); ++i) {
    double* x = d.x.data() + i * cols;
    std::copy(numeric.row(use[i]), numeric.row(use[i]) + numeric.cols, x);
    size_t base = numeric.cols;
    const size_t c = static_cast<size_t>(rows[use[i]].customer);
    for (size_t f = 0; f < in.fields.size(); ++f) {
      const IcpField& column = *in.fields[f];
      for (uint32_t k = column.begin[c]; k < column.begin[c + 1]; ++k) {
        x[base + static_cast<size_t>(columns[f][static_cast<size_t>(column.ids[k])])] = 1;
      }
      base += e.values[f].size() + 1;
    }
  }
  return d;
}

std::vector<uint8_t> LabelsOf(const std::vector<Example>& rows, const std::vector<size_t>& use) {
  std::vector<uint8_t> y;
  y.reserve(use.size());
  for (const size_t r : use) y.push_back(rows[r].label);
  return y;
}

// Fits on `train` (encoded and standardised on it) and predicts `test`.
absl::StatusOr<std::vector<double>> FitAndPredict(const ModelInputs& in, const Design& numeric,
                                                  const std::vector<Example>& rows,
                                                  const std::vector<size_t>& train,
                                                  const std::vector<size_t>& test, double lambda,
                                                  const std::function<bool()>& stop) {
  const Encoding e = EncodingOf(in, rows, train);
  Design raw = RawDesign(in, numeric, rows, train, e);
  const Standardization s = Standardize(raw);
  const Design standardized = s.Apply(raw);
  raw = Design{};  // only one copy of the training rows at a time
  absl::StatusOr<LogisticFit> fit = FitLogistic(standardized, LabelsOf(rows, train), lambda, stop);
  if (!fit.ok()) return fit.status();
  const Design held = RawDesign(in, numeric, rows, test, e);
  std::vector<double> p, z;
  for (size_t r = 0; r < held.rows; ++r) {
    s.ApplyRow(held.row(r), z);
    p.push_back(fit->Probability(z.data()));
  }
  return p;
}

}  // namespace

std::vector<std::string> NumericFeatureNames(bool engagement) {
  std::vector<std::string> out = {"log_tenure_days", "log_mrr",  "mrr_ratio_90d", "subscriptions",
                                  "long_term",       "past_due", "discount"};
  if (engagement) out.push_back("engagement_score");
  for (const char* name : {"log_days_since_usage", "log_usage_30d", "usage_trend", "users_30d",
                           "nps_score", "nps_none", "contraction_90d"}) {
    out.push_back(name);
  }
  return out;
}

double Model::Probability(const std::vector<double>& raw, std::vector<int>* top) const {
  double z = intercept;
  std::vector<std::pair<double, int>> parts;
  for (size_t j = 0; j < features.size(); ++j) {
    const FeatureReport& f = features[j];
    if (f.dropped) continue;
    const double part = f.coefficient * (raw[j] - f.mean) / f.sd;
    z += part;
    parts.emplace_back(part, static_cast<int>(j));
  }
  if (top != nullptr) {
    std::stable_sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
      return std::abs(a.first) > std::abs(b.first);
    });
    top->clear();
    for (size_t k = 0; k < parts.size() && k < static_cast<size_t>(kTopFactors); ++k) {
      top->push_back(parts[k].second);
    }
  }
  return z >= 0 ? 1 / (1 + std::exp(-z)) : std::exp(z) / (1 + std::exp(z));
}

absl::StatusOr<Model> TrainModel(const ModelInputs& in, const TrainSettings& settings,
                                 const std::function<bool()>& stop) {
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialise");
  const Indexed ix(in);
  std::vector<Example> rows = LabelledExamples(in, ix, settings);
  Model m;
  m.kind = settings.kind;
  m.horizon_days = settings.horizon_days;
  m.lambda = settings.lambda;
  m.engagement = in.engagement != nullptr;
  m.candidates = static_cast<int64_t>(rows.size());
  if (rows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no customer was paying at a month end of the range whose ", settings.horizon_days,
        "-day label window has ended by as_of: move the range earlier or shorten horizon_days"));
  }
  // Down to max_examples: the smallest SHA-256 of "customer|YYYY-MM-DD".
  if (static_cast<int64_t>(rows.size()) > settings.max_examples) {
    std::vector<std::pair<std::array<uint8_t, 32>, size_t>> keyed;
    for (size_t r = 0; r < rows.size(); ++r) {
      keyed.emplace_back(Sha256(absl::StrCat(
                             (*in.customer_ids)[static_cast<size_t>(rows[r].customer)], "|",
                             FormatIsoDate(settings.month_ends[static_cast<size_t>(rows[r].day)]))),
                         r);
    }
    std::nth_element(keyed.begin(), keyed.begin() + settings.max_examples, keyed.end());
    keyed.resize(static_cast<size_t>(settings.max_examples));
    std::vector<size_t> kept;
    for (const auto& [key, r] : keyed) kept.push_back(r);
    std::sort(kept.begin(), kept.end());
    std::vector<Example> sampled;
    for (const size_t r : kept) sampled.push_back(rows[r]);
    rows = std::move(sampled);
  }
  int64_t positives = 0;
  for (const Example& e : rows) positives += e.label;
  if (positives == 0 || positives == static_cast<int64_t>(rows.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "all ", rows.size(), " examples are ", positives == 0 ? "negative" : "positive",
        " (no customer ", positives == 0 ? "" : "but ",
        settings.kind == ModelKind::kChurn ? "churned" : "expanded", " within ",
        settings.horizon_days, " days of a month end): widen the range or lengthen horizon_days"));
  }
  absl::StatusOr<Design> numeric = NumericFeatures(in, ix, settings.month_ends, rows, stop);
  if (!numeric.ok()) return numeric.status();
  // Evaluation.
  std::vector<int32_t> months;
  for (const Example& e : rows) months.push_back(e.day);
  std::sort(months.begin(), months.end());
  months.erase(std::unique(months.begin(), months.end()), months.end());
  m.label_months = static_cast<int64_t>(months.size());
  std::vector<double> held_p;
  std::vector<uint8_t> held_y;
  const auto evaluate_split = [&](const std::vector<size_t>& train,
                                  const std::vector<size_t>& test) -> absl::Status {
    if (test.empty() || train.empty()) return absl::OkStatus();
    const std::vector<uint8_t> y = LabelsOf(rows, train);
    absl::StatusOr<std::vector<double>> p =
        FitAndPredict(in, *numeric, rows, train, test, settings.lambda, stop);
    if (!p.ok()) return p.status();
    held_p.insert(held_p.end(), p->begin(), p->end());
    for (const size_t r : test) held_y.push_back(rows[r].label);
    return absl::OkStatus();
  };
  if (months.size() >= 6) {
    m.time_split = true;
    m.test_months = static_cast<int64_t>((months.size() + 3) / 4);
    const int32_t first_test = months[months.size() - static_cast<size_t>(m.test_months)];
    std::vector<size_t> train, test;
    for (size_t r = 0; r < rows.size(); ++r) (rows[r].day < first_test ? train : test).push_back(r);
    if (absl::Status s = evaluate_split(train, test); !s.ok()) return s;
  } else {
    std::vector<int> fold(in.customer_ids->size(), -1);
    std::vector<std::vector<size_t>> parts(5);
    for (size_t r = 0; r < rows.size(); ++r) {
      const size_t c = static_cast<size_t>(rows[r].customer);
      if (fold[c] < 0) {
        const std::array<uint8_t, 32> h = Sha256((*in.customer_ids)[c]);
        uint64_t v = 0;
        for (int b = 0; b < 8; ++b) v = (v << 8) | h[static_cast<size_t>(b)];
        fold[c] = static_cast<int>(v % 5);
      }
      parts[static_cast<size_t>(fold[c])].push_back(r);
    }
    for (size_t k = 0; k < 5; ++k) {
      std::vector<size_t> train;
      for (size_t j = 0; j < 5; ++j) {
        if (j != k) train.insert(train.end(), parts[j].begin(), parts[j].end());
      }
      std::sort(train.begin(), train.end());
      if (absl::Status s = evaluate_split(train, parts[k]); !s.ok()) return s;
    }
  }
  m.evaluation = Evaluate(held_p, held_y);
  // The model: every example.
  std::vector<size_t> all(rows.size());
  std::iota(all.begin(), all.end(), 0);
  m.encoding = EncodingOf(in, rows, all);
  Design raw = RawDesign(in, *numeric, rows, all, m.encoding);
  *numeric = Design{};
  const Standardization s = Standardize(raw);
  const Design z = s.Apply(raw);
  raw = Design{};  // only one copy of the rows at a time
  const std::vector<uint8_t> y = LabelsOf(rows, all);
  absl::StatusOr<LogisticFit> fit = FitLogistic(z, y, settings.lambda, stop);
  if (!fit.ok()) return fit.status();
  m.examples = static_cast<int64_t>(rows.size());
  m.positives = positives;
  m.intercept = fit->intercept;
  m.intercept_standard_error = fit->intercept_standard_error;
  std::vector<std::string> names = NumericFeatureNames(m.engagement);
  for (size_t f = 0; f < m.encoding.fields.size(); ++f) {
    for (const std::string& v : m.encoding.values[f]) {
      names.push_back(absl::StrCat(m.encoding.fields[f], "=", v));
    }
    names.push_back(absl::StrCat(m.encoding.fields[f], "=other"));
  }
  size_t kept = 0;
  for (size_t j = 0; j < names.size(); ++j) {
    FeatureReport& r = m.features.emplace_back();
    r.name = names[j];
    r.mean = s.mean[j];
    r.sd = s.sd[j];
    r.dropped = !s.kept[j];
    if (r.dropped) continue;
    r.coefficient = fit->coefficient[kept];
    r.standard_error = fit->standard_error[kept];
    ++kept;
  }
  return m;
}

std::vector<LabelledExample> TrainingExamples(const ModelInputs& in,
                                              const TrainSettings& settings) {
  const Indexed ix(in);
  std::vector<LabelledExample> out;
  for (const Example& e : LabelledExamples(in, ix, settings)) {
    out.push_back({e.customer, settings.month_ends[static_cast<size_t>(e.day)], e.label != 0});
  }
  return out;
}

absl::StatusOr<Design> NumericFeaturesAt(const ModelInputs& in, absl::CivilDay day,
                                         const std::vector<int32_t>& customers,
                                         const std::function<bool()>& stop) {
  const Indexed ix(in);
  std::vector<Example> rows;
  for (const int32_t c : customers) rows.push_back({c, 0, 0});
  return NumericFeatures(in, ix, {day}, rows, stop);
}

absl::StatusOr<std::vector<std::vector<Score>>> ScoreDays(const Model& model, const ModelInputs& in,
                                                          const std::vector<absl::CivilDay>& days,
                                                          const std::vector<bool>* only,
                                                          const std::function<bool()>& stop) {
  const Indexed ix(in, only);
  std::vector<Example> rows;
  for (size_t d = 0; d < days.size(); ++d) {
    for (size_t c = 0; c < ix.customers; ++c) {
      if (only != nullptr && !(*only)[c]) continue;
      if (ix.movement_begin[c] == ix.movement_begin[c + 1]) continue;
      if (MrrAt(in, ix, static_cast<int32_t>(c), days[d]) > 0) {
        rows.push_back({static_cast<int32_t>(c), static_cast<int32_t>(d), 0});
      }
    }
  }
  absl::StatusOr<Design> numeric = NumericFeatures(in, ix, days, rows, stop);
  if (!numeric.ok()) return numeric.status();
  std::vector<size_t> all(rows.size());
  std::iota(all.begin(), all.end(), 0);
  const Design raw = RawDesign(in, *numeric, rows, all, model.encoding);
  std::vector<std::vector<Score>> out(days.size());
  std::vector<double> x;
  for (size_t r = 0; r < rows.size(); ++r) {
    x.assign(raw.row(r), raw.row(r) + raw.cols);
    Score& s = out[static_cast<size_t>(rows[r].day)].emplace_back();
    s.customer = rows[r].customer;
    s.probability = model.Probability(x, &s.top);
    for (const int j : s.top) {
      const FeatureReport& f = model.features[static_cast<size_t>(j)];
      s.contribution.push_back(f.coefficient * (x[static_cast<size_t>(j)] - f.mean) / f.sd);
      s.value.push_back(x[static_cast<size_t>(j)]);
    }
  }
  return out;
}

absl::StatusOr<std::vector<Score>> ScoreCustomers(const Model& model, const ModelInputs& in,
                                                  absl::CivilDay day,
                                                  const std::function<bool()>& stop) {
  absl::StatusOr<std::vector<std::vector<Score>>> days = ScoreDays(model, in, {day}, nullptr, stop);
  if (!days.ok()) return days.status();
  return std::move((*days)[0]);
}

}  // namespace saasmetrics::engine
