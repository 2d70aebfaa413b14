// List endpoints: the SDK's cursor pagination (API.md §7.3) over the store's keyset pages.
//
// `limit` (default 20, at most 100 unless the endpoint says otherwise) and `page` (an opaque cursor from a
// previous `next_page`; empty means absent) come from the query; the reply is {data, next_page}, with
// next_page null on the last page, because the SDK stops only on null.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "airlock/store/store.hpp"
#include "api/common/api.hpp"

namespace airlock::control {

struct ListLimits {
  std::size_t default_limit = 20;
  std::size_t max_limit = 100;
};

// limit, page, include_archived and created_at[gt|gte|lt|lte] from the query, validated.
store::ListQuery list_query(const ApiRequest& request, ListLimits limits = {});

// A query flag: absent -> fallback; "true"/"false" -> the value; anything else is a 400 naming the key.
bool query_bool(const ApiRequest& request, std::string_view key, bool fallback);

std::string encode_cursor(const store::Cursor& cursor);

// {data: [to_json(item)...], next_page}
template <class T, class ToJson>
json page_json(const store::Page<T>& page, ToJson&& to_json) {
  json data = json::array();
  for (const T& item : page.items) data.push_back(to_json(item));
  json next = page.next ? json(encode_cursor(*page.next)) : json(nullptr);
  return {{"data", std::move(data)}, {"next_page", std::move(next)}};
}

}  // namespace airlock::control
