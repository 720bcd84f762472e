#include "server/rpc/malformed.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/observability/log.h"
#include "server/rpc/handler.h"

namespace saasmetrics::rpc {
namespace {

using grpc::experimental::InterceptionHookPoints;

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  MalformedRequestInterceptor(grpc::experimental::ServerRpcInfo* info,
                              observability::ServerMetrics* metrics)
      : info_(info), metrics_(metrics), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A unary call's request is handed over once; null means it did not parse (the
    // handler is then never called).
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY &&
        methods->GetRecvMessage() == nullptr) {
      malformed_ = true;
    }
    if (malformed_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const absl::string_view path = info_->method();
      methods->ModifySendStatus(MalformedRequest(path));
      // "/package.Service/Method"
      std::pair<absl::string_view, absl::string_view> parts =
          absl::StrSplit(absl::StripPrefix(path, "/"), absl::MaxSplits('/', 1));
      metrics_->RpcStarted(parts.first, parts.second, "unary");
      metrics_->RpcHandled(parts.first, parts.second, "unary",
                           CodeName(grpc::StatusCode::INVALID_ARGUMENT), absl::Now() - start_);
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  observability::ServerMetrics* metrics_;
  absl::Time start_;
  bool malformed_ = false;
};

}  // namespace

grpc::Status MalformedRequest(absl::string_view method) {
  observability::LogLine(
      absl::StrCat("malformed request method=", method, " code=INVALID_ARGUMENT"));
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("the request to ", method,
                                   " is not a valid message of its type (it does not parse as "
                                   "protobuf wire format)"));
}

grpc::experimental::Interceptor* MalformedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new MalformedRequestInterceptor(info, metrics_);
}

}  // namespace saasmetrics::rpc
