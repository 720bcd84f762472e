#include "server/store/pg_error.h"

#include <exception>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace saasmetrics::store {
namespace {

// libpq messages span lines ("...failed: Connection refused\n\tIs the server...");
// statuses are one line.
std::string FirstLine(const char* what) {
  absl::string_view text = what;
  absl::string_view first = *absl::StrSplit(text, '\n').begin();
  return std::string(absl::StripAsciiWhitespace(first));
}

constexpr absl::string_view kQueryCanceled = "57014";
constexpr absl::string_view kAdminShutdown = "57P01";
constexpr absl::string_view kCannotConnectNow = "57P03";

}  // namespace

absl::Status CurrentExceptionToStatus() {
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(absl::StrCat("database connection lost: ", FirstLine(e.what())));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(absl::StrCat(
        "database connection lost during commit; outcome unknown: ", FirstLine(e.what())));
  } catch (const pqxx::unique_violation& e) {
    return absl::AlreadyExistsError(FirstLine(e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::AbortedError(absl::StrCat("transaction aborted: ", FirstLine(e.what())));
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    if (state == kQueryCanceled) {
      return absl::DeadlineExceededError("database statement exceeded the call's deadline");
    }
    if (state == kAdminShutdown || state == kCannotConnectNow) {
      return absl::UnavailableError(absl::StrCat("database unavailable: ", FirstLine(e.what())));
    }
    if (state.rfind("22", 0) == 0) {  // data exception
      return absl::InvalidArgumentError(FirstLine(e.what()));
    }
    return absl::InternalError(absl::StrCat("database error ", state, ": ", FirstLine(e.what())));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("database client error: ", FirstLine(e.what())));
  } catch (...) {
    return absl::InternalError("unknown exception in the database layer");
  }
}

}  // namespace saasmetrics::store
