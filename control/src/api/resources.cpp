// Helpers shared by the resource files.
#include "api/resources.hpp"

namespace airlock::control {

json parse_doc(const std::string& doc) {
  json parsed = json::parse(doc, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) throw std::runtime_error("stored document is not a JSON object");
  return parsed;
}

json timestamps_json(const std::string& created_at, const std::string& updated_at,
                     const std::optional<std::string>& archived_at) {
  return {{"created_at", created_at},
          {"updated_at", updated_at},
          {"archived_at", archived_at ? json(*archived_at) : json(nullptr)}};
}

Reply deleted_reply(std::string_view id, std::string_view type) {
  return Reply{200, {{"id", id}, {"type", type}}, {}};
}

}  // namespace airlock::control
