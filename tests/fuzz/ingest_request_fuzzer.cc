// Ingest request validation: any bytes the server might receive as an IngestBatch are
// parsed, mapped to engine types and validated as the handlers do, then turned into the
// INVALID_ARGUMENT answer. Properties: nothing crashes; what validation accepts obeys
// the documented bounds (amounts, map sizes, ids); the error answer stays within its
// budget however many violations there are.
#include <cstddef>
#include <cstdint>

#include "saasmetrics/v1/ingest.pb.h"
#include "server/engine/ingest_validation.h"
#include "server/engine/tenant.h"
#include "server/rpc/ingest_mapping.h"
#include "server/rpc/status.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using namespace saasmetrics;

const engine::IngestRules kRules{.currency = "USD",
                                 .now = absl::FromUnixSeconds(1767225600),  // 2026-01-01
                                 .limits = {}};

void CheckAnswer(const engine::Violations& violations) {
  if (violations.empty()) return;
  const grpc::Status s = rpc::InvalidArgument(violations);
  FUZZ_CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  // 100 violations of at most ~300-byte values, 4 KiB of text, plus framing.
  FUZZ_CHECK(s.error_message().size() <= 1024);
  FUZZ_CHECK(s.error_details().size() <= 16 * 1024);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::IngestBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;
  engine::Violations violations;
  engine::ValidateTenantId(batch.tenant_id(), "tenant_id", violations);
  CheckAnswer(violations);

  violations.clear();
  const auto subs = rpc::FromProto(batch.subscription_events().events());
  engine::ValidateSubscriptionEvents(subs, kRules, violations);
  if (violations.empty()) {
    for (const engine::SubscriptionEvent& e : subs) {
      FUZZ_CHECK(e.unit_amount >= 0 && e.quantity >= 0);
      FUZZ_CHECK(e.unit_amount <= engine::kMaxAmount);
      FUZZ_CHECK(e.quantity == 0 || e.unit_amount <= engine::kMaxAmount / e.quantity);
      FUZZ_CHECK(e.interval_count >= 1);
    }
  }
  CheckAnswer(violations);

  violations.clear();
  const auto usage = rpc::FromProto(batch.usage_events().events());
  engine::ValidateUsageEvents(usage, kRules, violations);
  if (violations.empty()) {
    for (const engine::UsageEvent& e : usage) {
      FUZZ_CHECK(static_cast<int>(e.properties.size()) <= kRules.limits.max_map_entries);
      FUZZ_CHECK(static_cast<int>(e.id.size()) <= kRules.limits.max_id_bytes);
      FUZZ_CHECK(e.time >= engine::EarliestAcceptedTime());
    }
  }
  CheckAnswer(violations);

  violations.clear();
  const auto customers = rpc::FromProto(batch.customers().customers(), kRules.now);
  engine::ValidateCustomers(customers, kRules, violations);
  if (violations.empty()) {
    for (const engine::Customer& c : customers) {
      FUZZ_CHECK(static_cast<int>(c.attributes.size()) <= kRules.limits.max_map_entries);
    }
  }
  CheckAnswer(violations);

  violations.clear();
  const auto spend = rpc::FromProto(batch.acquisition_spend().spend(), violations);
  engine::ValidateSpend(spend, kRules, violations);
  if (violations.empty()) {
    for (const engine::AcquisitionSpend& r : spend) {
      FUZZ_CHECK(r.amount >= 0 && r.amount <= engine::kMaxAmount);
      FUZZ_CHECK(r.end_date - r.start_date + 1 <= engine::kMaxSpendDays);
    }
  }
  CheckAnswer(violations);
  return 0;
}
