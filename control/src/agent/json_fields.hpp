// Reading fields of JSON that a model API or an MCP server sent: a field of another type than expected is
// the fallback, never a json::type_error (nlohmann's value() throws on one).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace airlock::control::agent {

inline std::string string_field(const nlohmann::json& object, const char* name, std::string fallback = {}) {
  if (!object.is_object()) return fallback;
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : fallback;
}

inline bool bool_field(const nlohmann::json& object, const char* name, bool fallback = false) {
  if (!object.is_object()) return fallback;
  auto found = object.find(name);
  return found != object.end() && found->is_boolean() ? found->get<bool>() : fallback;
}

}  // namespace airlock::control::agent
