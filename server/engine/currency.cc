#include "server/engine/currency.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/engine/tenant.h"

namespace saasmetrics::engine {
namespace {

// ISO 4217 currencies whose minor unit is not the hundredth (list one, 2024; of the
// codes IsIso4217Currency accepts). Sorted for binary search.
constexpr absl::string_view kExponent0[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                            "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
constexpr absl::string_view kExponent3[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
static_assert(std::is_sorted(std::begin(kExponent0), std::end(kExponent0)));
static_assert(std::is_sorted(std::begin(kExponent3), std::end(kExponent3)));

__int128 Pow10(int n) {
  __int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

}  // namespace

int CurrencyExponent(absl::string_view code) {
  if (!IsIso4217Currency(code)) return -1;
  if (std::binary_search(std::begin(kExponent0), std::end(kExponent0), code)) return 0;
  if (std::binary_search(std::begin(kExponent3), std::end(kExponent3), code)) return 3;
  return 2;
}

std::optional<Decimal> ParseRate(absl::string_view text, std::string* why) {
  auto fail = [&](std::string message) -> std::optional<Decimal> {
    if (why != nullptr) *why = std::move(message);
    return std::nullopt;
  };
  if (text.empty()) return fail("must not be empty");
  Decimal d;
  bool dot = false, digit = false;
  int digits = 0;  // significant: after leading zeros
  for (char c : text) {
    if (c == '.') {
      if (dot) return fail(absl::StrCat("'", text, "' has more than one '.'"));
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') {
      return fail(absl::StrCat("'", text, "' must be a decimal number such as 1.0832"));
    }
    digit = true;
    if (dot) ++d.scale;
    if (d.mantissa == 0 && c == '0') continue;
    if (++digits > kMaxRateDigits) {
      return fail(absl::StrCat("'", text, "' has more than ", kMaxRateDigits, " digits"));
    }
    d.mantissa = d.mantissa * 10 + (c - '0');
  }
  if (!digit) return fail(absl::StrCat("'", text, "' must be a decimal number such as 1.0832"));
  if (d.scale > kMaxRateDigits) {
    return fail(absl::StrCat("'", text, "' has more than ", kMaxRateDigits, " decimals"));
  }
  if (d.mantissa == 0) return fail(absl::StrCat("'", text, "' must be greater than zero"));
  // Trailing zeros after the point say nothing: 1.50 and 1.5 are one rate.
  while (d.scale > 0 && d.mantissa % 10 == 0) {
    d.mantissa /= 10;
    --d.scale;
  }
  return d;
}

std::string FormatDecimal(Decimal d) {
  if (d.scale <= 0) return absl::StrCat(d.mantissa);
  const int64_t unit = static_cast<int64_t>(Pow10(d.scale));  // scale ≤ 18
  std::string fraction = absl::StrCat(d.mantissa % unit);
  return absl::StrCat(d.mantissa / unit, ".",
                      std::string(static_cast<size_t>(d.scale) - fraction.size(), '0'), fraction);
}

std::optional<int64_t> ConvertAmount(int64_t amount, int from_exponent, int to_exponent,
                                     Decimal rate) {
  // amount / 10^from × mantissa / 10^scale × 10^to, exactly, then rounded once.
  const int shift = to_exponent - from_exponent - rate.scale;
  __int128 product = static_cast<__int128>(amount) * rate.mantissa;  // < 2^63 · 10^18
  __int128 result;
  if (shift >= 0) {
    if (__builtin_mul_overflow(product, Pow10(shift), &result)) return std::nullopt;
  } else {
    const __int128 divisor = Pow10(-shift);
    const bool negative = product < 0;
    const __int128 magnitude = negative ? -product : product;
    __int128 q = magnitude / divisor;
    if ((magnitude % divisor) * 2 >= divisor) ++q;  // half away from zero
    result = negative ? -q : q;
  }
  if (result > std::numeric_limits<int64_t>::max() ||
      result < std::numeric_limits<int64_t>::min()) {
    return std::nullopt;
  }
  return static_cast<int64_t>(result);
}

RateTable::RateTable(const std::string& reporting_currency, const std::vector<ExchangeRate>& rates)
    : reporting_(reporting_currency),
      reporting_exponent_(std::max(CurrencyExponent(reporting_currency), 0)) {
  for (const ExchangeRate& r : rates) by_currency_[r.currency].push_back({r.date, r.rate});
  for (auto& [currency, dated] : by_currency_) {
    std::sort(dated.begin(), dated.end(),
              [](const Dated& a, const Dated& b) { return a.date < b.date; });
  }
}

absl::Status RateTable::Missing(absl::string_view currency, absl::CivilDay day) const {
  return absl::FailedPreconditionError(
      absl::StrCat("no exchange rate from ", currency, " to ", reporting_, " dated on or before ",
                   absl::FormatCivilTime(day),
                   ": record one with RecordExchangeRates (saasctl ingest exchange-rates)"));
}

const RateTable::Dated* RateTable::Find(absl::string_view currency, absl::CivilDay day) const {
  auto it = by_currency_.find(currency);
  if (it == by_currency_.end()) return nullptr;
  const std::vector<Dated>& dated = it->second;
  auto after = std::upper_bound(dated.begin(), dated.end(), day,
                                [](absl::CivilDay d, const Dated& r) { return d < r.date; });
  return after == dated.begin() ? nullptr : &*(after - 1);
}

absl::StatusOr<RateTable::Found> RateTable::Lookup(absl::string_view currency,
                                                   absl::CivilDay day) const {
  const int exponent = CurrencyExponent(currency);
  if (exponent < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", currency, "' is not an ISO 4217 currency: no rate converts it"));
  }
  const Dated* rate = Find(currency, day);
  if (rate == nullptr) return Missing(currency, day);
  return Found{exponent, rate};
}

absl::StatusOr<int64_t> RateTable::Convert(int64_t amount, absl::string_view currency,
                                           absl::CivilDay day) const {
  if (currency == reporting_) return amount;
  absl::StatusOr<Found> found = Lookup(currency, day);
  if (!found.ok()) return found.status();
  const Dated* rate = found->rate;
  std::optional<int64_t> converted =
      ConvertAmount(amount, found->exponent, reporting_exponent_, rate->rate);
  if (!converted.has_value()) {
    return absl::OutOfRangeError(absl::StrCat(amount, " ", currency, " at ",
                                              FormatDecimal(rate->rate), " does not fit in ",
                                              reporting_, " minor units"));
  }
  return *converted;
}

absl::StatusOr<std::vector<RateRun>> RateTable::Runs(absl::string_view currency,
                                                     absl::CivilDay first, absl::CivilDay last,
                                                     int* shift) const {
  *shift = 0;
  if (currency == reporting_) return std::vector<RateRun>();
  absl::StatusOr<Found> found = Lookup(currency, first);
  if (!found.ok()) return found.status();
  const Dated* rate = found->rate;
  *shift = reporting_exponent_ - found->exponent;
  std::vector<RateRun> runs = {{first, rate->rate}};
  const std::vector<Dated>& dated = by_currency_.find(currency)->second;
  for (const Dated* r = rate + 1; r != dated.data() + dated.size() && r->date <= last; ++r) {
    runs.push_back({r->date, r->rate});
  }
  return runs;
}

size_t RateTable::bytes() const {
  size_t b = sizeof(*this) + reporting_.capacity();
  for (const auto& [currency, dated] : by_currency_) {
    b += sizeof(currency) + currency.capacity() + sizeof(dated) + dated.capacity() * sizeof(Dated) +
         8;
  }
  return b;
}

}  // namespace saasmetrics::engine
