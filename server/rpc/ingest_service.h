#pragma once

#include "saasmetrics/v1/ingest.grpc.pb.h"
#include "server/engine/ingest_validation.h"
#include "server/query/refresher.h"
#include "server/rpc/handler.h"
#include "server/store/change_feed.h"
#include "server/store/ingest_store.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::rpc {

// StreamIngest takes raw bytes and parses each batch itself: gRPC would report a batch that
// does not parse exactly like the client closing its side, ending the stream with OK.
using IngestServiceBase = v1::IngestService::WithCallbackMethod_IngestSubscriptionEvents<
    v1::IngestService::WithCallbackMethod_IngestUsageEvents<
        v1::IngestService::WithCallbackMethod_UpsertCustomers<
            v1::IngestService::WithCallbackMethod_RecordAcquisitionSpend<
                v1::IngestService::WithCallbackMethod_RecordSurveyResponses<
                    v1::IngestService::WithCallbackMethod_RecordExchangeRates<
                        v1::IngestService::WithRawCallbackMethod_StreamIngest<
                            v1::IngestService::Service>>>>>>>;

class IngestService final : public IngestServiceBase {
 public:
  // `refresher` (may be null) is told of every write of subscription events that stored
  // something, to bring the tenant's cached history up to date off the query path.
  IngestService(HandlerEnv env, engine::IngestLimits limits, store::TenantStore& tenants,
                store::IngestStore& store, query::Refresher* refresher = nullptr,
                store::ChangeFeed* feed = nullptr)
      : env_(env),
        limits_(limits),
        tenants_(tenants),
        store_(store),
        refresher_(refresher),
        feed_(feed) {}

  grpc::ServerUnaryReactor* IngestSubscriptionEvents(grpc::CallbackServerContext* ctx,
                                                     const v1::IngestSubscriptionEventsRequest* req,
                                                     v1::IngestResult* resp) override;
  grpc::ServerUnaryReactor* IngestUsageEvents(grpc::CallbackServerContext* ctx,
                                              const v1::IngestUsageEventsRequest* req,
                                              v1::IngestResult* resp) override;
  grpc::ServerUnaryReactor* UpsertCustomers(grpc::CallbackServerContext* ctx,
                                            const v1::UpsertCustomersRequest* req,
                                            v1::IngestResult* resp) override;
  grpc::ServerUnaryReactor* RecordAcquisitionSpend(grpc::CallbackServerContext* ctx,
                                                   const v1::RecordAcquisitionSpendRequest* req,
                                                   v1::IngestResult* resp) override;
  grpc::ServerUnaryReactor* RecordSurveyResponses(grpc::CallbackServerContext* ctx,
                                                  const v1::RecordSurveyResponsesRequest* req,
                                                  v1::IngestResult* resp) override;
  grpc::ServerUnaryReactor* RecordExchangeRates(grpc::CallbackServerContext* ctx,
                                                const v1::RecordExchangeRatesRequest* req,
                                                v1::IngestResult* resp) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamIngest(
      grpc::CallbackServerContext* ctx) override;

  // One batch of any kind, as StreamIngest runs it: validate, write, count.
  grpc::Status Ingest(const v1::IngestBatch& batch, absl::Time deadline, v1::IngestResult* out);

 private:
  grpc::Status Ingest(const std::string& tenant_id, const v1::IngestSubscriptionEventsRequest& req,
                      absl::Time deadline, v1::IngestResult* out);
  grpc::Status Ingest(const std::string& tenant_id, const v1::IngestUsageEventsRequest& req,
                      absl::Time deadline, v1::IngestResult* out);
  grpc::Status Ingest(const std::string& tenant_id, const v1::UpsertCustomersRequest& req,
                      absl::Time deadline, v1::IngestResult* out);
  grpc::Status Ingest(const std::string& tenant_id, const v1::RecordAcquisitionSpendRequest& req,
                      absl::Time deadline, v1::IngestResult* out);
  grpc::Status Ingest(const std::string& tenant_id, const v1::RecordSurveyResponsesRequest& req,
                      absl::Time deadline, v1::IngestResult* out);
  grpc::Status Ingest(const std::string& tenant_id, const v1::RecordExchangeRatesRequest& req,
                      absl::Time deadline, v1::IngestResult* out);

  // `s`, after telling the refresher of a write that stored something the tenant's
  // history is derived from (subscription events, exchange rates).
  grpc::Status HistoryInputWritten(const std::string& tenant_id, const v1::IngestResult& out,
                                   grpc::Status s);

  // The steps every kind shares, around the kind-specific `validate` and `write`.
  template <typename Items, typename Validate, typename Write>
  grpc::Status Run(const std::string& tenant_id, absl::string_view kind, absl::string_view list,
                   const Items& items, engine::Violations violations, Validate validate,
                   Write write, absl::Time deadline, v1::IngestResult* out);

  HandlerEnv env_;
  engine::IngestLimits limits_;
  store::TenantStore& tenants_;
  store::IngestStore& store_;
  query::Refresher* refresher_;
  store::ChangeFeed* feed_;  // told of every write that stored something
};

}  // namespace saasmetrics::rpc
