// saasctl ingest, import and generate: items from files, public datasets or the
// generator, sent through BatchSender.
#include <unistd.h>

#include <deque>
#include <future>
#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "client/batch_sender.h"
#include "client/generator.h"
#include "client/importers.h"
#include "client/records.h"
#include "client/saasctl.h"

namespace saasmetrics::cli {
namespace {

// Sends `items` of one kind in batches, each item located as "what #i (id)".
template <typename Item>
absl::Status SendAll(BatchSender& sender, const std::string& tenant, const std::vector<Item>& items,
                     int batch_size, int64_t* units_done,
                     void (*add)(v1::IngestBatch*, const Item&), const std::string& what,
                     std::string (*id)(const Item&)) {
  for (size_t i = 0; i < items.size() && !sender.rejected(); i += batch_size) {
    v1::IngestBatch batch;
    batch.set_tenant_id(tenant);
    const size_t end = std::min(items.size(), i + batch_size);
    for (size_t j = i; j < end; ++j) add(&batch, items[j]);
    *units_done += static_cast<int64_t>(end - i);
    absl::Status s = sender.Send(
        std::move(batch),
        [&items, i, what, id](int item, const std::string&) {
          return absl::StrCat(what, " ", id(items[i + item]));
        },
        *units_done);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void AddCustomer(v1::IngestBatch* b, const v1::Customer& c) {
  *b->mutable_customers()->add_customers() = c;
}
void AddSubscriptionEvent(v1::IngestBatch* b, const v1::SubscriptionEvent& e) {
  *b->mutable_subscription_events()->add_events() = e;
}
void AddSpend(v1::IngestBatch* b, const v1::AcquisitionSpend& s) {
  *b->mutable_acquisition_spend()->add_spend() = s;
}
std::string CustomerId(const v1::Customer& c) { return c.customer_id(); }
std::string EventId(const v1::SubscriptionEvent& e) { return e.event_id(); }
std::string SpendId(const v1::AcquisitionSpend& s) { return s.spend_id(); }
void AddResponse(v1::IngestBatch* b, const v1::SurveyResponse& r) {
  *b->mutable_survey_responses()->add_responses() = r;
}
std::string ResponseId(const v1::SurveyResponse& r) { return r.id(); }
void AddRate(v1::IngestBatch* b, const v1::ExchangeRate& r) {
  *b->mutable_exchange_rates()->add_rates() = r;
}
std::string RateId(const v1::ExchangeRate& r) { return absl::StrCat(r.currency(), " ", r.date()); }

// Exchange rates, customers, then subscription events, spend and survey responses:
// customers first so that every event's customer has its attributes when the events
// arrive.
int SendImport(client::Client& client, const std::string& tenant, const std::string& label,
               const std::vector<v1::Customer>& customers,
               const std::vector<v1::SubscriptionEvent>& events,
               const std::vector<v1::AcquisitionSpend>& spend,
               const std::vector<v1::SurveyResponse>& responses,
               const std::vector<v1::ExchangeRate>& rates, const SendFlags& flags,
               BatchSender** out_sender, std::unique_ptr<BatchSender>* holder) {
  const int64_t total = static_cast<int64_t>(customers.size() + events.size() + spend.size() +
                                             responses.size() + rates.size());
  *holder = std::make_unique<BatchSender>(client, flags.window, label, total, flags.progress,
                                          flags.streams);
  BatchSender& sender = **holder;
  *out_sender = &sender;
  int64_t done = 0;
  absl::Status s =
      SendAll(sender, tenant, rates, flags.batch, &done, AddRate, "exchange rate", RateId);
  if (s.ok()) {
    s = SendAll(sender, tenant, customers, flags.batch, &done, AddCustomer, "customer", CustomerId);
  }
  if (s.ok()) {
    s = SendAll(sender, tenant, events, flags.batch, &done, AddSubscriptionEvent,
                "subscription event", EventId);
  }
  if (s.ok()) s = SendAll(sender, tenant, spend, flags.batch, &done, AddSpend, "spend", SpendId);
  if (s.ok()) {
    s = SendAll(sender, tenant, responses, flags.batch, &done, AddResponse, "survey response",
                ResponseId);
  }
  absl::Status finished = sender.Finish();
  if (!s.ok()) return Fail(s);
  if (!finished.ok()) return Fail(finished);
  return kExitOk;
}

}  // namespace

int RunIngest(client::Client& client, const IngestFlags& flags) {
  absl::StatusOr<client::RecordKind> kind = client::ParseRecordKind(flags.kind);
  if (!kind.ok()) return Fail(kind.status());
  int64_t total = 0;
  std::vector<std::pair<std::string, client::FileFormat>> files;
  for (const std::string& path : flags.files) {
    absl::StatusOr<client::FileFormat> format =
        !flags.format.empty() ? client::ParseFileFormat(flags.format)
        : path == "-" ? absl::InvalidArgumentError("reading stdin needs --format=csv|ndjson")
                      : client::FormatFromFileName(path);
    if (!format.ok()) return Fail(format.status());
    files.emplace_back(path, *format);
  }
  // Progress over the bytes of every named file.
  std::vector<std::unique_ptr<client::RecordReader>> readers;
  for (const auto& [path, format] : files) {
    auto reader = client::RecordReader::Open(path, format, *kind);
    if (!reader.ok()) return Fail(reader.status());
    total += (*reader)->total_bytes();
    readers.push_back(std::move(*reader));
  }
  const std::string label =
      files.size() == 1 ? readers[0]->path() : absl::StrCat(files.size(), " files");
  BatchSender sender(client, flags.send.window, label, total, flags.send.progress,
                     flags.send.streams);
  // Records are read here in file order, a batch's worth at a time, parsed on worker
  // threads (a batch each), and sent in file order: the first bad record still stops the
  // run, its batch and everything after it unsent.
  struct Parsed {
    client::RecordReader* reader = nullptr;
    std::vector<int> lines;
    int64_t units_done = 0;
    v1::IngestBatch batch;
    absl::Status status;
  };
  std::deque<std::future<Parsed>> parsing;
  const size_t depth = 2 * static_cast<size_t>(flags.parse_threads);
  absl::Status failure;
  auto send_first = [&] {
    Parsed p = parsing.front().get();
    parsing.pop_front();
    if (!failure.ok() || sender.rejected()) return;  // stopped: what follows is not sent
    if (!p.status.ok()) {
      failure = p.status;
      return;
    }
    client::RecordReader* r = p.reader;
    failure = sender.Send(
        std::move(p.batch),
        [r, lines = std::move(p.lines)](int item, const std::string& field) {
          const std::string top = field.substr(0, field.find_first_of(".["));
          const int column = r->ColumnOf(top);
          return absl::StrCat(r->path(), ":", lines[item],
                              column > 0 ? absl::StrCat(":", column) : "");
        },
        p.units_done);
  };
  int64_t bytes_before = 0;
  for (auto& reader : readers) {
    client::RecordReader* r = reader.get();
    while (failure.ok() && !sender.rejected()) {
      auto chunk = std::make_shared<client::RecordChunk>();
      absl::StatusOr<bool> more = r->ReadChunk(flags.send.batch, chunk.get());
      if (!more.ok()) {  // a bad header or a failed read: after what came before it
        while (!parsing.empty()) send_first();
        if (failure.ok()) failure = more.status();
        break;
      }
      if (!*more) break;
      parsing.push_back(std::async(std::launch::async,
                                   [r, chunk, &flags, units = bytes_before + chunk->bytes_read] {
                                     Parsed p;
                                     p.reader = r;
                                     p.units_done = units;
                                     p.batch.set_tenant_id(flags.tenant);
                                     p.status = r->ParseChunk(*chunk, &p.batch);
                                     p.lines = std::move(chunk->lines);
                                     return p;
                                   }));
      while (parsing.size() >= depth) send_first();
    }
    bytes_before += r->bytes_read();
    if (!failure.ok() || sender.rejected()) break;
  }
  while (!parsing.empty()) send_first();
  absl::Status finished = sender.Finish();
  const absl::Status error = !failure.ok() ? failure : finished;
  if (!error.ok()) {
    Fail(error);
    std::cerr << "saasctl: stopped after " << sender.Summary()
              << "; re-running is safe: stored items are skipped as duplicates\n";
    return ExitCodeFor(error);
  }
  std::cout << "ingested " << label << ": " << sender.Summary() << "\n";
  return kExitOk;
}

int RunImport(client::Client& client, const ImportFlags& flags) {
  absl::StatusOr<v1::Tenant> tenant = client.GetTenant(flags.tenant);
  if (!tenant.ok()) return Fail(tenant.status());
  absl::StatusOr<client::Import> data;
  if (flags.dataset == "telco") {
    absl::CivilDay snapshot;
    if (!absl::ParseCivilTime(flags.snapshot, &snapshot) || flags.snapshot.size() != 10) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--snapshot=", flags.snapshot, ": not a date like 2024-12-31")));
    }
    data = client::ImportTelco(flags.file, tenant->currency(), snapshot);
  } else {
    data = client::ImportSubscriptionPeriods(flags.file, tenant->currency());
  }
  if (!data.ok()) return Fail(data.status());
  BatchSender* sender = nullptr;
  std::unique_ptr<BatchSender> holder;
  const int code = SendImport(client, flags.tenant, flags.file, data->customers, data->events, {},
                              {}, {}, flags.send, &sender, &holder);
  if (code != kExitOk) return code;
  std::cout << "imported " << flags.file << ": " << data->customers.size() << " customers, "
            << data->events.size() << " subscription events; " << sender->Summary() << "\n";
  return kExitOk;
}

int RunGenerate(client::Client& client, const GenerateFlags& flags) {
  client::GeneratorOptions o;
  o.seed = flags.seed;
  o.customers = flags.customers;
  o.months = flags.months;
  o.usage_events = flags.usage;
  o.local_currencies = flags.local_currencies;
  if (!absl::ParseCivilTime(flags.first_month, &o.first_month)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--first_month=", flags.first_month, ": not a month like 2023-01")));
  }
  absl::StatusOr<v1::Tenant> tenant = client.GetTenant(flags.tenant);
  if (!tenant.ok()) return Fail(tenant.status());
  o.currency = tenant->currency();
  const client::GeneratedData data = client::Generate(o);
  BatchSender* sender = nullptr;
  std::unique_ptr<BatchSender> holder;
  int code = SendImport(client, flags.tenant, "generated", data.customers, data.subscription_events,
                        data.spend, data.survey_responses, data.exchange_rates, flags.send, &sender,
                        &holder);
  if (code != kExitOk) return code;
  const std::string structural = sender->Summary();
  // Usage: generated and sent batch by batch (it is the big part).
  BatchSender usage(client, flags.send.window, "usage", flags.usage, flags.send.progress,
                    flags.send.streams);
  int64_t done = 0;
  absl::Status failed;
  client::GenerateUsage(o, data, flags.send.batch, [&](std::vector<v1::UsageEvent>&& events) {
    if (!failed.ok() || usage.rejected()) return;
    v1::IngestBatch batch;
    batch.set_tenant_id(flags.tenant);
    done += static_cast<int64_t>(events.size());
    for (auto& e : events) *batch.mutable_usage_events()->add_events() = std::move(e);
    failed = usage.Send(
        std::move(batch), [](int item, const std::string&) { return absl::StrCat("usage ", item); },
        done);
  });
  absl::Status finished = usage.Finish();
  if (!failed.ok()) return Fail(failed);
  if (!finished.ok()) return Fail(finished);
  std::cout << "generated for " << flags.tenant << " (seed " << flags.seed
            << "): " << data.customers.size() << " customers, " << data.subscription_events.size()
            << " subscription events, " << data.spend.size() << " spend records, "
            << data.survey_responses.size() << " survey responses, " << data.exchange_rates.size()
            << " exchange rates: " << structural << "; " << flags.usage
            << " usage events: " << usage.Summary() << "\n";
  return kExitOk;
}

}  // namespace saasmetrics::cli
