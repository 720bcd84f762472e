#pragma once

#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "server/rpc/handler.h"

namespace saasmetrics::rpc {

// Ingestion. Until issue 3 lands each RPC answers UNIMPLEMENTED.
class IngestService final : public v1::IngestService::CallbackService {
 public:
  explicit IngestService(HandlerEnv env) : env_(env) {}

#define SAAS_UNIMPLEMENTED_(Method, Req, Resp)                                                  \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx, const v1::Req*, v1::Resp*) \
      override {                                                                                \
    return Unimplemented(ctx, env_, "saasmetrics.v1.IngestService", #Method);                   \
  }
  SAAS_UNIMPLEMENTED_(IngestSubscriptionEvents, IngestSubscriptionEventsRequest, IngestResult)
  SAAS_UNIMPLEMENTED_(IngestUsageEvents, IngestUsageEventsRequest, IngestResult)
  SAAS_UNIMPLEMENTED_(UpsertCustomers, UpsertCustomersRequest, IngestResult)
  SAAS_UNIMPLEMENTED_(RecordAcquisitionSpend, RecordAcquisitionSpendRequest, IngestResult)
#undef SAAS_UNIMPLEMENTED_

  grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* StreamIngest(
      grpc::CallbackServerContext* ctx) override;

 private:
  HandlerEnv env_;
};

}  // namespace saasmetrics::rpc
