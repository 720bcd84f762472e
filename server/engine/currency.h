// Currencies and exchange rates (METRICS.md "Currencies"): ISO 4217 exponents, exact
// decimal rates, and the conversion of a minor-unit amount into the reporting currency.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"

namespace saasmetrics::engine {

// The minor-unit exponent of an active ISO 4217 currency (JPY 0, USD 2, KWD 3); -1 for a
// code that is not one (IsIso4217Currency).
int CurrencyExponent(absl::string_view code);

// An exact decimal: mantissa / 10^scale, as written ("1.0832" = 10832 / 10^4).
struct Decimal {
  int64_t mantissa = 0;
  int scale = 0;
  bool operator==(const Decimal&) const = default;
};
inline constexpr int kMaxRateDigits = 18;  // significant digits a rate may have
// A rate as written: digits with at most one '.', no sign or exponent, greater than zero,
// at most kMaxRateDigits digits after leading zeros. Else nullopt and what is wrong in `why`.
std::optional<Decimal> ParseRate(absl::string_view text, std::string* why = nullptr);
std::string FormatDecimal(Decimal d);  // "1.0832"

// `amount` in minor units of a currency with `from_exponent`, in minor units of one with
// `to_exponent`, at `rate` (one major unit of the first in major units of the second),
// rounded half away from zero once. nullopt when the result does not fit in int64.
std::optional<int64_t> ConvertAmount(int64_t amount, int from_exponent, int to_exponent,
                                     Decimal rate);

// A rate from `from` on (until the next run's day).
struct RateRun {
  absl::CivilDay from;
  Decimal rate;
};

// One rate: one unit of `currency` in units of the tenant's reporting currency on `date`.
struct ExchangeRate {
  absl::CivilDay date;
  std::string currency;
  Decimal rate;
};

// A tenant's rates, for converting into its reporting currency: the rate for a day is the
// latest one dated on or before it.
class RateTable {
 public:
  RateTable(const std::string& reporting_currency, const std::vector<ExchangeRate>& rates);

  // `amount` (minor units of `currency`, an ISO 4217 code) on `day`, in minor units of
  // the reporting currency. The reporting currency itself converts to itself without a
  // rate. FAILED_PRECONDITION naming the currency and the day when no rate is dated on or
  // before it; OUT_OF_RANGE when the result does not fit in int64.
  absl::StatusOr<int64_t> Convert(int64_t amount, absl::string_view currency,
                                  absl::CivilDay day) const;
  // The rates of `currency` over [first, last] as runs (the first from the latest rate on
  // or before `first`), and the reporting exponent minus the currency's; empty runs for
  // the reporting currency. FAILED_PRECONDITION as for Convert when `first` has no rate.
  absl::StatusOr<std::vector<RateRun>> Runs(absl::string_view currency, absl::CivilDay first,
                                            absl::CivilDay last, int* shift) const;
  size_t bytes() const;

 private:
  struct Dated {
    absl::CivilDay date;
    Decimal rate;
  };
  const Dated* Find(absl::string_view currency, absl::CivilDay day) const;
  // The currency's exponent and its rate for `day`, or why there is none.
  struct Found {
    int exponent;
    const Dated* rate;
  };
  absl::StatusOr<Found> Lookup(absl::string_view currency, absl::CivilDay day) const;
  absl::Status Missing(absl::string_view currency, absl::CivilDay day) const;

  std::string reporting_;
  int reporting_exponent_ = 2;
  absl::flat_hash_map<std::string, std::vector<Dated>> by_currency_;  // each by date
};

}  // namespace saasmetrics::engine
