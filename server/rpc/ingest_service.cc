#include "server/rpc/ingest_service.h"

namespace saasmetrics::rpc {
namespace {

class RejectStream : public grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  RejectStream() {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "saasmetrics.v1.IngestService/StreamIngest is not implemented yet in "
                        "this version"));
  }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerBidiReactor<v1::IngestBatch, v1::IngestAck>* IngestService::StreamIngest(
    grpc::CallbackServerContext*) {
  env_.metrics->RpcStarted("saasmetrics.v1.IngestService", "StreamIngest", "bidi_stream");
  env_.metrics->RpcHandled("saasmetrics.v1.IngestService", "StreamIngest", "bidi_stream",
                           "Unimplemented", absl::ZeroDuration());
  return new RejectStream();
}

}  // namespace saasmetrics::rpc
