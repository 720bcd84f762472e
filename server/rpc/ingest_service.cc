#include "server/rpc/ingest_service.h"

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "server/rpc/ingest_mapping.h"
#include "server/rpc/malformed.h"
#include "server/rpc/status.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.IngestService";

// Serves one StreamIngest call: read a batch, ingest it on the executor, write its ack,
// read the next. Acks come in batch order; the stream may last for hours.
// Batches arrive as bytes and are parsed here, so one that does not parse ends the stream
// with INVALID_ARGUMENT rather than looking like the end of the stream.
class IngestStream : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  IngestStream(IngestService* service, const HandlerEnv& env, grpc::CallbackServerContext* ctx)
      : service_(service), env_(env), ctx_(ctx), start_(absl::Now()) {
    env_.metrics->RpcStarted(kService, "StreamIngest", "bidi_stream");
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side: every batch it sent has been acked
      Done(grpc::Status::OK);
      return;
    }
    batch_.Clear();
    if (!grpc::SerializationTraits<v1::IngestBatch>::Deserialize(&in_, &batch_).ok()) {
      Done(MalformedRequest(absl::StrCat("/", kService, "/StreamIngest")));
      return;
    }
    const bool queued = env_.executor->TrySubmit([this] {
      const absl::Time deadline = absl::Now() + env_.default_deadline;
      // Every batch names its tenant: the key must hold ingest on each one.
      absl::StatusOr<auth::Principal> who =
          Admit(ctx_, env_, "StreamIngest", {auth::kIngest, batch_.tenant_id()}, deadline);
      if (!who.ok()) {
        Done(grpc::Status(static_cast<grpc::StatusCode>(who.status().code()),
                          std::string(who.status().message())));
        return;
      }
      ack_.Clear();
      ack_.set_batch_id(batch_.batch_id());
      grpc::Status s = service_->Ingest(batch_, deadline, ack_.mutable_result());
      if (!s.ok()) SetError(s);
      bool own_buffer = false;
      out_.Clear();
      if (!grpc::SerializationTraits<v1::IngestAck>::Serialize(ack_, &out_, &own_buffer).ok()) {
        Done(grpc::Status(grpc::StatusCode::INTERNAL, "could not serialize the ack"));
        return;
      }
      StartWrite(&out_);
    });
    if (!queued) {  // the client resends unacked batches on a new stream
      env_.metrics->Shed(env_.pool);
      Done(Overloaded(env_.pool));
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Done(grpc::Status(grpc::StatusCode::CANCELLED, "client went away before its ack"));
      return;
    }
    StartRead(&in_);
  }

  void OnDone() override { delete this; }

 private:
  void SetError(const grpc::Status& s) {
    ack_.set_error_code(s.error_code());
    ack_.set_error_message(s.error_message());
    google::rpc::Status details;
    if (!s.error_details().empty() && details.ParseFromString(s.error_details())) {
      for (const auto& any : details.details()) {
        google::rpc::BadRequest bad;
        if (!any.UnpackTo(&bad)) continue;
        for (const auto& v : bad.field_violations()) {
          auto* out = ack_.add_violations();
          out->set_field(v.field());
          out->set_description(v.description());
        }
      }
    }
  }

  void Done(const grpc::Status& status) {
    env_.metrics->RpcHandled(kService, "StreamIngest", "bidi_stream", CodeName(status.error_code()),
                             absl::Now() - start_);
    Finish(status);
  }

  IngestService* service_;
  HandlerEnv env_;
  grpc::CallbackServerContext* ctx_;
  absl::Time start_;
  grpc::ByteBuffer in_, out_;
  v1::IngestBatch batch_;
  v1::IngestAck ack_;
};

}  // namespace

template <typename Items, typename Validate, typename Write>
grpc::Status IngestService::Run(const std::string& tenant_id, absl::string_view kind,
                                absl::string_view list, const Items& items,
                                engine::Violations violations, Validate validate, Write write,
                                absl::Time deadline, v1::IngestResult* out) {
  if (static_cast<int>(items.size()) > limits_.max_items) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat(list, ": ", items.size(), " items exceed the batch limit of ",
                                     limits_.max_items, " (--max_batch_items)"));
  }
  engine::ValidateTenantId(tenant_id, "tenant_id", violations);
  if (!violations.empty()) return InvalidArgument(violations);
  absl::StatusOr<engine::Tenant> tenant = tenants_.Get(tenant_id, deadline);
  if (!tenant.ok()) return ToGrpcStatus(tenant.status());
  const engine::IngestRules rules{tenant->currency, absl::Now(), limits_};
  validate(items, rules, violations);
  if (!violations.empty()) return InvalidArgument(violations);
  if (items.empty()) return grpc::Status::OK;
  absl::StatusOr<store::IngestCounts> counts = write(tenant_id, items, deadline);
  if (!counts.ok()) return ToGrpcStatus(counts.status());
  out->set_accepted(counts->accepted);
  out->set_duplicates(counts->duplicates);
  env_.metrics->Ingested(kind, counts->accepted, counts->duplicates);
  if (counts->accepted > 0 && feed_ != nullptr) feed_->Written(tenant_id);
  return grpc::Status::OK;
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::IngestSubscriptionEventsRequest& req,
                                   absl::Time deadline, v1::IngestResult* out) {
  grpc::Status s = Run(
      tenant_id, "subscription_event", "events", FromProto(req.events()), {},
      engine::ValidateSubscriptionEvents,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.WriteSubscriptionEvents(t, items, d);
      },
      deadline, out);
  return HistoryInputWritten(tenant_id, *out, std::move(s));
}

grpc::Status IngestService::HistoryInputWritten(const std::string& tenant_id,
                                                const v1::IngestResult& out, grpc::Status s) {
  if (s.ok() && out.accepted() > 0 && refresher_ != nullptr) {
    refresher_->SubscriptionsWritten(tenant_id);
  }
  return s;
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::IngestUsageEventsRequest& req, absl::Time deadline,
                                   v1::IngestResult* out) {
  return Run(
      tenant_id, "usage_event", "events", FromProto(req.events()), {}, engine::ValidateUsageEvents,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.WriteUsageEvents(t, items, d);
      },
      deadline, out);
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::UpsertCustomersRequest& req, absl::Time deadline,
                                   v1::IngestResult* out) {
  return Run(
      tenant_id, "customer", "customers", FromProto(req.customers(), absl::Now()), {},
      engine::ValidateCustomers,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.UpsertCustomers(t, items, d);
      },
      deadline, out);
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::RecordAcquisitionSpendRequest& req,
                                   absl::Time deadline, v1::IngestResult* out) {
  engine::Violations violations;
  auto items = FromProto(req.spend(), violations);
  return Run(
      tenant_id, "acquisition_spend", "spend", items, std::move(violations), engine::ValidateSpend,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.WriteSpend(t, items, d);
      },
      deadline, out);
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::RecordSurveyResponsesRequest& req, absl::Time deadline,
                                   v1::IngestResult* out) {
  return Run(
      tenant_id, "survey_response", "responses", FromProto(req.responses()), {},
      engine::ValidateSurveyResponses,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.WriteSurveyResponses(t, items, d);
      },
      deadline, out);
}

grpc::Status IngestService::Ingest(const std::string& tenant_id,
                                   const v1::RecordExchangeRatesRequest& req, absl::Time deadline,
                                   v1::IngestResult* out) {
  engine::Violations violations;
  auto items = FromProto(req.rates(), violations);
  grpc::Status s = Run(
      tenant_id, "exchange_rate", "rates", items, std::move(violations),
      engine::ValidateExchangeRates,
      [this](const std::string& t, const auto& items, absl::Time d) {
        return store_.WriteExchangeRates(t, items, d);
      },
      deadline, out);
  // The history converts at the rates: kept warm as after a subscription write.
  return HistoryInputWritten(tenant_id, *out, std::move(s));
}

grpc::Status IngestService::Ingest(const v1::IngestBatch& batch, absl::Time deadline,
                                   v1::IngestResult* out) {
  // The batch's tenant applies to its items; an inner tenant_id must agree with it.
  auto with_tenant = [&](const auto& request) -> grpc::Status {
    if (!request.tenant_id().empty() && request.tenant_id() != batch.tenant_id()) {
      return InvalidArgument(
          {{"tenant_id", absl::StrCat("the batch is for '", batch.tenant_id(),
                                      "' but its items name '", request.tenant_id(), "'")}});
    }
    return Ingest(batch.tenant_id(), request, deadline, out);
  };
  switch (batch.items_case()) {
    case v1::IngestBatch::kSubscriptionEvents:
      return with_tenant(batch.subscription_events());
    case v1::IngestBatch::kUsageEvents:
      return with_tenant(batch.usage_events());
    case v1::IngestBatch::kCustomers:
      return with_tenant(batch.customers());
    case v1::IngestBatch::kAcquisitionSpend:
      return with_tenant(batch.acquisition_spend());
    case v1::IngestBatch::kSurveyResponses:
      return with_tenant(batch.survey_responses());
    case v1::IngestBatch::kExchangeRates:
      return with_tenant(batch.exchange_rates());
    case v1::IngestBatch::ITEMS_NOT_SET:
      break;
  }
  return InvalidArgument({{"items",
                           "one of subscription_events, usage_events, customers, "
                           "acquisition_spend, survey_responses or exchange_rates is required"}});
}

grpc::ServerUnaryReactor* IngestService::IngestSubscriptionEvents(
    grpc::CallbackServerContext* ctx, const v1::IngestSubscriptionEventsRequest* req,
    v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "IngestSubscriptionEvents", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerUnaryReactor* IngestService::IngestUsageEvents(grpc::CallbackServerContext* ctx,
                                                           const v1::IngestUsageEventsRequest* req,
                                                           v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "IngestUsageEvents", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerUnaryReactor* IngestService::UpsertCustomers(grpc::CallbackServerContext* ctx,
                                                         const v1::UpsertCustomersRequest* req,
                                                         v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "UpsertCustomers", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerUnaryReactor* IngestService::RecordAcquisitionSpend(
    grpc::CallbackServerContext* ctx, const v1::RecordAcquisitionSpendRequest* req,
    v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "RecordAcquisitionSpend", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerUnaryReactor* IngestService::RecordSurveyResponses(
    grpc::CallbackServerContext* ctx, const v1::RecordSurveyResponsesRequest* req,
    v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "RecordSurveyResponses", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerUnaryReactor* IngestService::RecordExchangeRates(
    grpc::CallbackServerContext* ctx, const v1::RecordExchangeRatesRequest* req,
    v1::IngestResult* resp) {
  return RunUnary(
      ctx, env_, kService, "RecordExchangeRates", {auth::kIngest, req->tenant_id()},
      [=, this](absl::Time deadline) { return Ingest(req->tenant_id(), *req, deadline, resp); });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestService::StreamIngest(
    grpc::CallbackServerContext* ctx) {
  return new IngestStream(this, env_, ctx);
}

}  // namespace saasmetrics::rpc
