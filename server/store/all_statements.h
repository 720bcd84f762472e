// Every statement the store layer runs, as one list: what a connection pool prepares on
// each connection it opens.
#pragma once

#include <vector>

#include "server/store/statement.h"

namespace saasmetrics::store {

std::vector<Statement> AllStatements();

}  // namespace saasmetrics::store
