// Server reflection, queried the way grpcurl would: list the services, then fetch the
// file descriptor that defines one.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

using ::testing::IsSupersetOf;
namespace refl = grpc::reflection::v1alpha;

// A reflection stub on the server's port, once it listens; null if it never does.
std::unique_ptr<refl::ServerReflection::Stub> ReflectionOf(const Subprocess& server) {
  if (!server.WaitForOutput("listening grpc_port=", absl::Seconds(20))) return nullptr;
  std::smatch m;
  const std::string out = server.Output();
  if (!std::regex_search(out, m, std::regex("grpc_port=(\\d+)"))) return nullptr;
  return refl::ServerReflection::NewStub(
      grpc::CreateChannel("127.0.0.1:" + m[1].str(), grpc::InsecureChannelCredentials()));
}

TEST(Reflection, ListsEveryServiceAndServesTheirDescriptors) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=", "--reflection", "--database_url=" + db.conninfo()});
  auto stub = ReflectionOf(server);
  ASSERT_NE(stub, nullptr) << server.Output();

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->ServerReflectionInfo(&ctx);
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  refl::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> services;
  for (const auto& s : resp.list_services_response().service()) services.push_back(s.name());
  EXPECT_THAT(services, IsSupersetOf({"saasmetrics.v1.AdminService", "saasmetrics.v1.IngestService",
                                      "saasmetrics.v1.MetricsService", "grpc.health.v1.Health"}));

  refl::ServerReflectionRequest file;
  file.set_file_containing_symbol("saasmetrics.v1.MetricsService");
  ASSERT_TRUE(stream->Write(file));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto fd;
  ASSERT_TRUE(fd.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(fd.name(), "saasmetrics/v1/metrics.proto");
  stream->WritesDone();
  stream->Finish();
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

// Without --reflection the API is not described to anyone who asks.
TEST(Reflection, IsOffUnlessAskedFor) {
  TestDatabase db;
  Subprocess server({BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                     "--metrics_address=", "--database_url=" + db.conninfo()});
  auto stub = ReflectionOf(server);
  ASSERT_NE(stub, nullptr) << server.Output();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->ServerReflectionInfo(&ctx);
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  stream->Write(list);
  refl::ServerReflectionResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  server.Signal(SIGTERM);
  EXPECT_EQ(server.Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
