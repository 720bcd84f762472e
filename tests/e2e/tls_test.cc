// TLS and mTLS on the gRPC port, with throwaway certificates from openssl
// (tests/support/make_certs.sh): plain clients are refused, clients trusting another CA
// are refused, mTLS wants a client certificate from its CA, and a rotated certificate is
// served without a restart.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {
namespace {

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/saasmetrics-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    for (const char* prefix : {"", "other-"}) {
      Subprocess make(
          {std::string(SAASMETRICS_SOURCE_DIR) + "/tests/support/make_certs.sh", dir_, prefix});
      ASSERT_EQ(make.Wait(absl::Seconds(60)), 0) << make.Output();
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string File(const std::string& name) const { return dir_ + "/" + name; }

  // Starts the server with `flags`; returns its "localhost:PORT".
  std::string Start(std::vector<std::string> flags) {
    std::vector<std::string> args = {BinaryPath("saasmetrics"), "--grpc_address=127.0.0.1:0",
                                     "--metrics_address=", "--database_url=" + db_.conninfo()};
    args.insert(args.end(), flags.begin(), flags.end());
    server_ = std::make_unique<Subprocess>(args);
    EXPECT_TRUE(server_->WaitForOutput("health SERVING", absl::Seconds(30))) << server_->Output();
    return absl::StrCat("localhost:", LoggedNumber(*server_, "grpc_port", absl::Seconds(5)));
  }

  // What GetTenant answers through a client with `options` (the tenant does not exist: a
  // connected, authenticated call is NOT_FOUND).
  absl::StatusCode Ask(client::ClientOptions options) {
    options.timeout = absl::Seconds(5);
    options.max_attempts = 1;
    return client::Client(options).GetTenant("nobody").status().code();
  }

  // Starts the gateway with `flags` and asks it for an unknown tenant: the HTTP status
  // ("404" when it reached the server over TLS), or "" when it did not start.
  std::string AskGateway(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {BinaryPath("saasmetrics-gateway"), "--listen=127.0.0.1:0"});
    Subprocess gateway(flags);
    if (!gateway.WaitForOutput("http_port=", absl::Seconds(20))) {
      ADD_FAILURE() << gateway.Output();
      return "";
    }
    const int port = LoggedNumber(gateway, "http_port", absl::Seconds(5));
    Subprocess curl({"/usr/bin/curl", "-s", "-o", File("answer.txt"), "-w", "%{http_code}", "-H",
                     std::string("Authorization: Bearer ") + kTestAdminToken,
                     absl::StrCat("http://127.0.0.1:", port, "/v1/tenants/nobody")});
    EXPECT_EQ(curl.Wait(absl::Seconds(30)), 0);
    gateway.Signal(SIGTERM);
    return curl.Output();
  }

  std::string dir_;
  TestDatabase db_;
  std::unique_ptr<Subprocess> server_;
};

TEST_F(Tls, ServesTlsAndRefusesPlainOrUntrustingClients) {
  const std::string address =
      Start({"--tls_cert_file=" + File("server.pem"), "--tls_key_file=" + File("server.key")});
  EXPECT_EQ(Ask({.address = address, .tls = true, .tls_ca_file = File("ca.pem")}),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Ask({.address = address}), absl::StatusCode::kUnavailable) << "plain text";
  EXPECT_EQ(Ask({.address = address, .tls = true, .tls_ca_file = File("other-ca.pem")}),
            absl::StatusCode::kUnavailable)
      << "a client that does not trust the server's CA";
}

TEST_F(Tls, MutualTlsWantsAClientCertificateFromItsCa) {
  const std::string address =
      Start({"--tls_cert_file=" + File("server.pem"), "--tls_key_file=" + File("server.key"),
             "--tls_client_ca_file=" + File("ca.pem")});
  client::ClientOptions base{.address = address, .tls = true, .tls_ca_file = File("ca.pem")};
  EXPECT_EQ(Ask(base), absl::StatusCode::kUnavailable) << "no client certificate";
  client::ClientOptions wrong = base;
  wrong.tls_cert_file = File("other-client.pem");
  wrong.tls_key_file = File("other-client.key");
  EXPECT_EQ(Ask(wrong), absl::StatusCode::kUnavailable) << "a certificate of another CA";
  client::ClientOptions right = base;
  right.tls_cert_file = File("client.pem");
  right.tls_key_file = File("client.key");
  EXPECT_EQ(Ask(right), absl::StatusCode::kNotFound);
  // mTLS does not replace the API key: without one the call is still refused.
  right.bearer_token = "none";
  EXPECT_EQ(Ask(right), absl::StatusCode::kUnauthenticated);
}

// The REST gateway speaks mTLS to the server and forwards the caller's key.
TEST_F(Tls, TheGatewaySpeaksTlsToTheServer) {
  const std::string address =
      Start({"--tls_cert_file=" + File("server.pem"), "--tls_key_file=" + File("server.key"),
             "--tls_client_ca_file=" + File("ca.pem")});
  EXPECT_EQ(AskGateway({"--backend=" + address, "--backend_tls_ca_file=" + File("ca.pem"),
                        "--backend_tls_cert_file=" + File("client.pem"),
                        "--backend_tls_key_file=" + File("client.key")}),
            "404")
      << "through TLS to the server, which knows no such tenant";
}

// A sidecar dials 127.0.0.1 but checks the certificate for the name it was issued to
// (--backend_tls_server_name): the right name connects, a name the certificate does not
// carry is refused (503: the gateway cannot reach a server it trusts).
TEST_F(Tls, TheGatewayVerifiesTheNameItIsGiven) {
  const std::string address =
      Start({"--tls_cert_file=" + File("server.pem"), "--tls_key_file=" + File("server.key")});
  const std::string loopback = "127.0.0.1" + address.substr(address.find(':'));
  for (const auto& [name, code] :
       {std::pair<std::string, std::string>{"localhost", "404"}, {"saasmetrics.example", "503"}}) {
    EXPECT_EQ(AskGateway({"--backend=" + loopback, "--backend_tls_ca_file=" + File("ca.pem"),
                          "--backend_tls_server_name=" + name}),
              code)
        << name;
  }
}

// Kubernetes gRPC probes cannot speak TLS: --health_address serves health checks in
// plain text on a port of their own, and nothing else.
TEST_F(Tls, APlaintextHealthPortAnswersProbesAndNothingElse) {
  const std::string address =
      Start({"--tls_cert_file=" + File("server.pem"), "--tls_key_file=" + File("server.key"),
             "--health_address=127.0.0.1:0"});
  const std::string health =
      absl::StrCat("127.0.0.1:", LoggedNumber(*server_, "health_port", absl::Seconds(5)));
  client::Client probe({.address = health, .timeout = absl::Seconds(5), .max_attempts = 1});
  EXPECT_EQ(probe.Healthy(), absl::StatusOr<bool>(true));
  EXPECT_EQ(probe.Healthy("liveness"), absl::StatusOr<bool>(true));
  EXPECT_EQ(probe.Healthy("saasmetrics.v1.MetricsService"), absl::StatusOr<bool>(true));
  EXPECT_EQ(probe.GetTenant("nobody").status().code(), absl::StatusCode::kUnimplemented)
      << "the health port serves no API";
  // The TLS port answers as before; in plain text it does not.
  EXPECT_EQ(Ask({.address = address, .tls = true, .tls_ca_file = File("ca.pem")}),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Ask({.address = address}), absl::StatusCode::kUnavailable);
  // Draining: the probe port says NOT_SERVING, then closes.
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(absl::Seconds(30)), 0) << server_->Output();
  EXPECT_FALSE(probe.Healthy().value_or(false));
}

TEST_F(Tls, ARotatedCertificateIsServedWithoutARestart) {
  std::filesystem::copy_file(File("server.pem"), File("live.pem"));
  std::filesystem::copy_file(File("server.key"), File("live.key"));
  const std::string address = Start({"--tls_cert_file=" + File("live.pem"),
                                     "--tls_key_file=" + File("live.key"), "--tls_refresh=1s"});
  EXPECT_EQ(Ask({.address = address, .tls = true, .tls_ca_file = File("ca.pem")}),
            absl::StatusCode::kNotFound);
  // The certificate is replaced by one from another CA: new connections get it.
  std::filesystem::copy_file(File("other-server.key"), File("live.key"),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(File("other-server.pem"), File("live.pem"),
                             std::filesystem::copy_options::overwrite_existing);
  absl::StatusCode got = absl::StatusCode::kUnknown;
  for (int i = 0; i < 40; ++i) {
    got = Ask({.address = address, .tls = true, .tls_ca_file = File("other-ca.pem")});
    if (got == absl::StatusCode::kNotFound) break;
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_EQ(got, absl::StatusCode::kNotFound) << "the rotated certificate is served";
  EXPECT_EQ(Ask({.address = address, .tls = true, .tls_ca_file = File("ca.pem")}),
            absl::StatusCode::kUnavailable)
      << "and the old one no longer";
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(absl::Seconds(20)), 0);
}

}  // namespace
}  // namespace saasmetrics::testing
