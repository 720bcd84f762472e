#include "tests/support/test_server.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace saasmetrics::testing {

TestServer::TestServer(rpc::ServerConfig config) {
  config.grpc_address = "127.0.0.1:0";
  // The Prometheus endpoint costs 1-3 s at shutdown (civetweb); tests that scrape it
  // ask for one with a non-default address.
  if (config.metrics_address == rpc::ServerConfig{}.metrics_address) config.metrics_address = "";
  config.database_url = db_.conninfo();
  if (config.bootstrap_admin_token.empty()) config.bootstrap_admin_token = kTestAdminToken;
  // Tests that need the plan switch of a prepared statement ask for one connection.
  if (config.db_pool_size == rpc::ServerConfig{}.db_pool_size) config.db_pool_size = 4;
  config.worker_threads = 4;
  config.db_probe_interval = absl::Milliseconds(200);
  auto server = rpc::Server::Start(config);
  if (!server.ok()) {
    ADD_FAILURE() << "server start: " << server.status();
    std::abort();
  }
  server_ = std::move(*server);
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!server_->serving() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  if (!server_->serving()) ADD_FAILURE() << "server did not become SERVING within 30 s";
  client_ = std::make_unique<client::Client>(client::ClientOptions{.address = address()});
}

TestServer::~TestServer() {
  client_.reset();
  server_->Shutdown(absl::Seconds(1));
  server_.reset();
}

std::string TestServer::address() const { return absl::StrCat("127.0.0.1:", server_->grpc_port()); }

}  // namespace saasmetrics::testing
