#include "server/store/all_statements.h"

#include "server/store/definition_store.h"
#include "server/store/ingest_store.h"
#include "server/store/key_store.h"
#include "server/store/metrics_store.h"
#include "server/store/tenant_store.h"

namespace saasmetrics::store {

std::vector<Statement> AllStatements() {
  std::vector<Statement> out;
  for (const auto& s : TenantStore::Statements()) out.push_back(s);
  for (const auto& s : IngestStore::Statements()) out.push_back(s);
  for (const auto& s : MetricsStore::Statements()) out.push_back(s);
  for (const auto& s : DefinitionStore::Statements()) out.push_back(s);
  for (const auto& s : KeyStore::Statements()) out.push_back(s);
  return out;
}

}  // namespace saasmetrics::store
