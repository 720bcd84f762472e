// WatchHealthTransitions: a server stream that sends each ended day's health transitions
// and revisions of days already sent. A watch holds no thread: it computes on the query
// executor when the change feed says its tenant's data changed (on any replica) or a day
// ends in the tenant's zone (a timer), at most once per --watch_min_interval, and never
// while earlier messages wait to be written (a slow reader does not pile up rounds).
#include <deque>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/dates.h"
#include "server/engine/ingest_validation.h"
#include "server/engine/periods.h"
#include "server/query/health.h"
#include "server/query/watch.h"
#include "server/rpc/metrics_mapping.h"
#include "server/rpc/metrics_service.h"
#include "server/rpc/status.h"
#include "server/rpc/success_mapping.h"

namespace saasmetrics::rpc {
namespace {

constexpr absl::string_view kService = "saasmetrics.v1.MetricsService";
constexpr absl::string_view kMethod = "WatchHealthTransitions";
// Transitions per message: a day with more comes in parts.
constexpr int kPartSize = 1000;
// A day's end is acted on this long after it, so that writes stamped just before midnight
// have landed.
constexpr absl::Duration kDayEndGrace = absl::Seconds(1);

}  // namespace

class HealthWatch : public grpc::ServerWriteReactor<v1::HealthTransitionsDay> {
 public:
  static HealthWatch* Start(MetricsService* service, grpc::CallbackServerContext* ctx,
                            const v1::WatchHealthTransitionsRequest* req) {
    auto watch = std::shared_ptr<HealthWatch>(new HealthWatch(service, ctx, *req));
    watch->self_ = watch;
    HealthWatch* raw = watch.get();
    service->env_.metrics->SetWatches(++service->watches_);
    if (service->watches_ > service->watch_.max_watches || service->watch_.timers == nullptr) {
      raw->FinishNow(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("this replica holds ", service->watch_.max_watches,
                       " watches already (--max_watches); retry later or on another replica")));
      return raw;
    }
    if (service->watch_.feed != nullptr) {
      std::weak_ptr<HealthWatch> weak = watch;
      raw->subscription_ = service->watch_.feed->Subscribe(req->query().tenant_id(), [weak] {
        if (auto w = weak.lock()) w->Wake();
      });
    }
    raw->Wake();
    return raw;
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        finish = grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      } else {
        queue_.pop_front();
        if (pending_finish_.has_value()) finish = std::move(pending_finish_);
      }
    }
    if (finish.has_value()) return FinishNow(*finish);
    WriteNext();
    Wake(/*changed=*/false);
  }

  void OnCancel() override {
    cancelled_ = true;
    FinishNow(grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the watch"));
  }

  void OnDone() override {
    if (subscription_ != 0) service_->watch_.feed->Unsubscribe(subscription_);
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      if (timer_ != 0) service_->watch_.timers->Cancel(timer_);
      timer_ = 0;
    }
    cancelled_ = true;
    service_->env_.metrics->SetWatches(--service_->watches_);
    service_->env_.metrics->RpcHandled(kService, kMethod, "server_stream", CodeName(final_code_),
                                       absl::Now() - start_);
    self_.reset();  // the last executor task still running keeps it alive until it returns
  }

 private:
  HealthWatch(MetricsService* service, grpc::CallbackServerContext* ctx,
              const v1::WatchHealthTransitionsRequest& req)
      : service_(service), ctx_(ctx), req_(req), start_(absl::Now()) {
    service_->env_.metrics->RpcStarted(kService, kMethod, "server_stream");
  }

  // Something changed (`changed`), or a write or a round ended: runs a round when one is
  // due and allowed.
  void Wake(bool changed = true) {
    absl::MutexLock lock(&mu_);
    if (changed) dirty_ = true;
    if (!dirty_ || computing_ || finished_ || done_ || !queue_.empty()) return;
    const absl::Time now = absl::Now();
    const absl::Time allowed = last_round_ + service_->watch_.min_interval;
    if (now < allowed) return WakeAtLocked(allowed);
    computing_ = true;
    dirty_ = false;
    last_round_ = now;
    std::shared_ptr<HealthWatch> self = self_;
    if (!service_->env_.executor->TrySubmit([self] { self->Round(); })) {
      // Busy: try again in a moment, without failing the watch.
      service_->env_.metrics->Shed(service_->env_.pool);
      computing_ = false;
      dirty_ = true;
      WakeAtLocked(now + absl::Seconds(1));
    }
  }

  // A timer at `when` (replacing a later one) that wakes the watch.
  void WakeAtLocked(absl::Time when) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (timer_ != 0 && timer_at_ <= when) return;
    query::Timers& timers = *service_->watch_.timers;
    if (timer_ != 0) timers.Cancel(timer_);
    std::weak_ptr<HealthWatch> weak = self_;
    timer_at_ = when;
    timer_ = timers.At(when, [weak] {
      if (auto w = weak.lock()) {
        {
          absl::MutexLock lock(&w->mu_);
          w->timer_ = 0;
        }
        w->Wake();
      }
    });
  }

  // On the executor: checks the key again, computes the window's days, and queues what the
  // client lacks.
  void Round() {
    grpc::Status status = RoundStatus();
    std::optional<grpc::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      computing_ = false;
      if (!status.ok()) {
        finish = status;
      } else if (pending_finish_.has_value()) {
        finish = std::move(pending_finish_);
      } else if (!finished_ && !done_) {
        WakeAtLocked(next_day_end_ + kDayEndGrace);
      }
    }
    if (finish.has_value()) return FinishNow(*finish);
    WriteNext();
    Wake(/*changed=*/false);
  }

  grpc::Status RoundStatus() {
    service_->env_.metrics->WatchRound();
    if (cancelled_) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    const absl::Time deadline = absl::Now() + service_->env_.default_deadline;
    query::Context ctx{.deadline = deadline, .cancelled = [this] { return cancelled_.load(); }};
    const HandlerEnv& env = service_->env_;
    // Every round: a key revoked meanwhile ends the watch.
    absl::StatusOr<auth::Principal> who =
        Admit(ctx_, env, kMethod, {auth::kRead, req_.query().tenant_id()}, deadline);
    if (!who.ok()) {
      return grpc::Status(static_cast<grpc::StatusCode>(who.status().code()),
                          std::string(who.status().message()));
    }
    if (!validated_) {
      if (grpc::Status s = Validate(); !s.ok()) return s;
      validated_ = true;
    }
    absl::StatusOr<engine::Tenant> tenant = service_->reader_.Tenant(req_.query().tenant_id(), ctx);
    if (!tenant.ok()) return ToGrpcStatus(tenant.status());
    absl::TimeZone tz;
    if (!absl::LoadTimeZone(tenant->timezone, &tz)) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("tenant time zone '", tenant->timezone, "' is unknown"));
    }
    const absl::CivilDay last = query::LastEndedDay(absl::Now(), tz);
    {
      absl::MutexLock lock(&mu_);
      next_day_end_ = engine::DayStart(last + 2, tz);
    }
    const absl::CivilDay first = std::max(first_day_.has_value() ? *first_day_ : last,
                                          last - (query::kMaxTransitionDays - 1));
    // Days that left the window are no longer watched.
    absl::erase_if(held_, [first](const auto& kv) { return kv.first < first; });
    if (last < first) return grpc::Status::OK;  // the first day has not ended yet
    v1::MetricsQuery spec = req_.query();
    spec.set_start_date(engine::FormatIsoDate(first));
    spec.set_end_date(engine::FormatIsoDate(last));
    absl::StatusOr<MetricsService::HealthSetup> h =
        service_->PrepareHealth(spec, {.interval = false}, ctx);
    if (!h.ok()) return ToGrpcStatus(h.status());
    absl::StatusOr<std::vector<query::TransitionRow>> rows = query::HealthTransitions(
        service_->reader_, h->q, h->q.tenant.health_policy, h->model(), ctx, h->risk());
    if (!rows.ok()) return ToGrpcStatus(rows.status());
    const std::vector<query::TransitionDay> days = query::TransitionDays(*rows, to_, first, last);
    std::deque<v1::HealthTransitionsDay> out;
    for (const query::DayToSend& send : query::DaysToSend(days, held_)) {
      const std::vector<const query::TransitionRow*>& day_rows = send.day->rows;
      size_t i = 0;
      do {
        v1::HealthTransitionsDay& m = out.emplace_back();
        m.set_date(engine::FormatIsoDate(send.day->day));
        m.set_revision(send.revision);
        m.set_engagement_model_id(h->engagement.id);
        const size_t end = std::min(day_rows.size(), i + kPartSize);
        for (; i < end; ++i) ToProto(*day_rows[i], m.add_transitions());
        m.set_more(i < day_rows.size());
        if (!m.more()) m.set_fingerprint(send.day->fingerprint);
      } while (i < day_rows.size());
    }
    absl::MutexLock lock(&mu_);
    for (auto& m : out) queue_.push_back(std::move(m));
    return grpc::Status::OK;
  }

  // The request's own fields (the query's filters are checked by Prepare).
  grpc::Status Validate() {
    engine::Violations violations;
    const v1::MetricsQuery& q = req_.query();
    engine::ValidateTenantId(q.tenant_id(), "query.tenant_id", violations);
    if (!q.end_date().empty()) {
      violations.push_back({"query.end_date", "must be empty: a watch has no end"});
    }
    if (q.interval() != v1::INTERVAL_UNSPECIFIED) {
      violations.push_back({"query.interval", "must be unset: a watch goes day by day"});
    }
    if (!q.start_date().empty()) {
      absl::CivilDay day;
      if (!engine::ParseIsoDate(q.start_date(), &day)) {
        violations.push_back({"query.start_date", "must be a date like 2024-01-31"});
      } else {
        // Against the widest zones: the tenant's last ended day is within a day of UTC's.
        const absl::CivilDay last = query::LastEndedDay(absl::Now(), absl::UTCTimeZone());
        if (day < last - query::kMaxTransitionDays || day > last + 366) {
          violations.push_back({"query.start_date",
                                absl::StrCat("must be within the last ", query::kMaxTransitionDays,
                                             " days (or up to a year ahead)")});
        }
        first_day_ = day;
      }
    }
    if (!v1::HealthGroup_IsValid(req_.to())) {
      violations.push_back({"to", absl::StrCat("unknown value ", req_.to())});
    } else if (req_.to() != v1::HEALTH_GROUP_UNSPECIFIED) {
      to_ = FromProto(req_.to());
    }
    if (req_.known_size() > query::kMaxTransitionDays) {
      violations.push_back({"known", absl::StrCat("at most ", query::kMaxTransitionDays,
                                                  " days, got ", req_.known_size())});
    } else {
      for (int i = 0; i < req_.known_size(); ++i) {
        std::pair<std::string, std::string> kv =
            absl::StrSplit(req_.known(i), absl::MaxSplits('=', 1));
        absl::CivilDay day;
        if (!engine::ParseIsoDate(kv.first, &day) || kv.second.size() != 16 ||
            !std::all_of(kv.second.begin(), kv.second.end(), absl::ascii_isxdigit)) {
          violations.push_back({absl::StrCat("known[", i, "]"),
                                "must be DATE=FINGERPRINT as a watch sent it "
                                "(2024-01-31=0123456789abcdef)"});
          continue;
        }
        held_[day] = kv.second;
      }
    }
    if (!violations.empty()) return InvalidArgument(violations);
    return grpc::Status::OK;
  }

  // Starts writing the next queued message, if none is being written.
  void WriteNext() {
    absl::MutexLock lock(&mu_);
    if (writing_ || queue_.empty() || finished_ || done_) return;
    writing_ = true;
    StartWrite(&queue_.front());
  }

  // Finishes the call once (after the write or the round in flight, if any: a round reads
  // the call's metadata, which lives until the call is done).
  void FinishNow(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || done_) return;
      if (writing_ || computing_) {
        if (!pending_finish_.has_value()) pending_finish_ = status;
        return;
      }
      finished_ = true;
      final_code_ = status.error_code();
    }
    Finish(status);
  }

  MetricsService* service_;
  grpc::CallbackServerContext* ctx_;
  const v1::WatchHealthTransitionsRequest req_;
  const absl::Time start_;
  std::shared_ptr<HealthWatch> self_;  // reset in OnDone
  int64_t subscription_ = 0;
  std::atomic<bool> cancelled_{false};

  // Read and written by rounds only (one at a time).
  bool validated_ = false;
  std::optional<absl::CivilDay> first_day_;
  std::optional<engine::HealthGroup> to_;
  absl::flat_hash_map<absl::CivilDay, std::string> held_;  // what the client has

  absl::Mutex mu_;
  std::deque<v1::HealthTransitionsDay> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool computing_ ABSL_GUARDED_BY(mu_) = false;
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
  grpc::StatusCode final_code_ = grpc::StatusCode::OK;
  absl::Time last_round_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time next_day_end_ ABSL_GUARDED_BY(mu_);
  int64_t timer_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time timer_at_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerWriteReactor<v1::HealthTransitionsDay>* MetricsService::WatchHealthTransitions(
    grpc::CallbackServerContext* ctx, const v1::WatchHealthTransitionsRequest* req) {
  return HealthWatch::Start(this, ctx, req);
}

}  // namespace saasmetrics::rpc
