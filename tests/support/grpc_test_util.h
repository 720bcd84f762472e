// Small helpers shared by the gRPC tests.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace saasmetrics::testing {

// The fields of the google.rpc.BadRequest violations in a status's details.
inline std::vector<std::string> ViolatedFields(const grpc::Status& s) {
  google::rpc::Status details;
  details.ParseFromString(s.error_details());
  std::vector<std::string> fields;
  for (const auto& any : details.details()) {
    google::rpc::BadRequest bad;
    if (any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) fields.push_back(v.field());
    }
  }
  return fields;
}

// Sends the test run's admin key (tests/support/test_db.cc puts it in the environment,
// where every server and client of the run finds it).
inline void AddToken(grpc::ClientContext* ctx) {
  if (const char* token = std::getenv("SAASMETRICS_TOKEN")) {
    ctx->AddMetadata("authorization", std::string("Bearer ") + token);
  }
}

// A client context with a 30 s deadline and the test run's admin key.
inline std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  AddToken(ctx.get());
  return ctx;
}

}  // namespace saasmetrics::testing
