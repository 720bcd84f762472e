// Debian 12's Abseil (20220623) has no status macros; these are the usual two.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SAAS_CONCAT_INNER_(a, b) a##b
#define SAAS_CONCAT_(a, b) SAAS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::absl::Status saas_status_ = (expr);        \
    if (!saas_status_.ok()) return saas_status_; \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(SAAS_CONCAT_(saas_statusor_, __LINE__), lhs, expr)

#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(*statusor)
