// An in-process saasmetrics server on loopback port 0 over its own test database, built
// by the same rpc::Server the binary uses, plus a real client.
#pragma once

#include <memory>

#include "client/client.h"
#include "server/rpc/server.h"
#include "tests/support/test_db.h"

namespace saasmetrics::testing {

class TestServer {
 public:
  // Starts the server and waits (up to 30 s) until its health is SERVING.
  explicit TestServer(rpc::ServerConfig config = {});
  ~TestServer();

  rpc::Server& server() { return *server_; }
  client::Client& client() { return *client_; }
  const TestDatabase& db() const { return db_; }
  std::string address() const;

 private:
  TestDatabase db_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace saasmetrics::testing
