// One page of a listing computed in full (engagement scores, health groups): the rows a
// filter keeps, after the last row a previous page served, in the listing's order; only
// the page's worth is put in order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace saasmetrics::query {

template <typename Row>
struct PageOf {
  std::vector<const Row*> rows;  // into the rows given
  int64_t total = 0;             // rows the filter keeps, over all pages
  bool more = false;             // rows follow the last one
};

// `before(a, b)`: a comes before b (a strict total order: ties broken by an id). `after`:
// the last row served (only the fields `before` reads matter).
template <typename Row, typename Keep, typename Before>
PageOf<Row> Paginate(const std::vector<Row>& rows, Keep keep, Before before,
                     const std::optional<Row>& after, int page_size) {
  PageOf<Row> page;
  for (const Row& r : rows) {
    if (!keep(r)) continue;
    ++page.total;
    if (after.has_value() && !before(*after, r)) continue;
    page.rows.push_back(&r);
  }
  const auto last =
      page.rows.begin() + std::min<ptrdiff_t>(page_size, static_cast<ptrdiff_t>(page.rows.size()));
  std::partial_sort(page.rows.begin(), last, page.rows.end(),
                    [&](const Row* a, const Row* b) { return before(*a, *b); });
  page.more = last != page.rows.end();
  page.rows.erase(last, page.rows.end());
  return page;
}

}  // namespace saasmetrics::query
