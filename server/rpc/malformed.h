// Requests whose bytes do not parse as their message. gRPC answers such a unary call itself,
// before any handler runs, with a bare UNIMPLEMENTED that no handler records; this
// interceptor turns the answer into INVALID_ARGUMENT that says what was wrong, counts it in
// the RPC metrics and logs it. (StreamIngest parses its own messages: ingest_service.cc.)
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/string_view.h"
#include "server/observability/server_metrics.h"

namespace saasmetrics::rpc {

// The answer to a request that does not parse, logged once here. `method` is the full
// path ("/package.Service/Method").
grpc::Status MalformedRequest(absl::string_view method);

class MalformedRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MalformedRequestInterceptorFactory(observability::ServerMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  observability::ServerMetrics* metrics_;
};

}  // namespace saasmetrics::rpc
