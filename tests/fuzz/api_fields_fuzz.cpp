// Fuzz target api_fields: the control plane's validation of JSON request bodies (control/src/api/common:
// fields.hpp, agent_fields.hpp; api/secret_strength.hpp; http/printable.hpp), as a handler runs it over a
// body a client sent. (The resource handlers' own checks, such as a credential's auth or an environment's
// config, sit beside their routes and the store, and are reached through the API tests instead.)
//
// Input: a request body.
//
// Checks (a violation aborts):
//   - validation refuses only by throwing ApiError 400 invalid_request_error: any other exception (a
//     json::type_error from a field of an unexpected type, say) would be a 500 for a client's mistake;
//   - every refusal's message starts with the JSON path of the field it is about (STYLE.md §3), and is
//     valid UTF-8 that serialises, whatever bytes the body held;
//   - what validation returns keeps the limits it checked: strings within their code point bounds,
//     metadata within 16 pairs of bounded keys and values, MCP server names unique; and it serialises;
//   - printable() gives valid UTF-8 without control characters, leaves such text as it is, and is
//     idempotent;
//   - strong_enough_secret() is exactly "at least 16 bytes and at least 64 estimated bits".
#include <exception>
#include <functional>
#include <set>
#include <string>

#include "api/common/agent_fields.hpp"
#include "api/common/fields.hpp"
#include "api/secret_strength.hpp"
#include "fuzz_support.hpp"
#include "http/printable.hpp"

namespace airlock::fuzz {
namespace {

using control::json;

// RFC 3629 UTF-8, written out: no overlong forms, no surrogates, nothing above U+10FFFF. Sets
// `control_character` when it meets C0, DEL or C1.
bool valid_utf8(std::string_view text, bool* control_character = nullptr) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    std::uint32_t code = 0;
    std::size_t length = 0;
    if (lead < 0x80) {
      code = lead;
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      code = lead & 0x1Fu;
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      code = lead & 0x0Fu;
      length = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      code = lead & 0x07u;
      length = 4;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) return false;
      code = code << 6 | (byte(i + k) & 0x3Fu);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10FFFF)) ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    if (control_character != nullptr && (code < 0x20 || (code >= 0x7F && code <= 0x9F))) *control_character = true;
    i += length;
  }
  return true;
}

bool serialises(const json& value) {
  try {
    (void)value.dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

// Runs one validation step. A refusal must be a 400 naming `path` first; nothing else may escape.
template <class Step>
void validate(std::string_view path, Step&& step) {
  try {
    step();
  } catch (const control::ApiError& refusal) {
    AIRLOCK_FUZZ_CHECK(refusal.status() == 400 && refusal.type() == "invalid_request_error");
    const std::string_view message = refusal.what();
    AIRLOCK_FUZZ_CHECK(message.starts_with(path));
    AIRLOCK_FUZZ_CHECK(valid_utf8(message) && serialises(json(std::string(message))));
  } catch (const std::exception& unexpected) {
    std::fprintf(stderr, "unexpected exception while validating %.*s: %s\n", static_cast<int>(path.size()),
                 path.data(), unexpected.what());
    invariant_violated("only ApiError may escape validation", __FILE__, __LINE__);
  }
}

void check_string(const std::string& value, std::size_t min, std::size_t max) {
  const std::size_t length = control::utf8_length(value);
  AIRLOCK_FUZZ_CHECK(length >= min && length <= max && length <= value.size());
}

void check_metadata(const json& metadata) {
  AIRLOCK_FUZZ_CHECK(metadata.is_object() && metadata.size() <= 16);
  for (const auto& [key, value] : metadata.items()) {
    check_string(key, 1, 64);
    AIRLOCK_FUZZ_CHECK(value.is_string());
    check_string(value.get<std::string>(), 0, 512);
  }
}

void check_printable(std::string_view bytes) {
  const std::string shown = control::printable(bytes);
  bool control_character = false;
  AIRLOCK_FUZZ_CHECK(valid_utf8(shown, &control_character) && !control_character);
  AIRLOCK_FUZZ_CHECK(control::printable(shown) == shown);
  control_character = false;
  if (valid_utf8(bytes, &control_character) && !control_character) AIRLOCK_FUZZ_CHECK(shown == bytes);
}

void check_secret_strength(std::string_view value) {
  const double bits = control::estimated_secret_bits(value);
  AIRLOCK_FUZZ_CHECK(bits >= 0 && (!value.empty() || bits == 0));
  AIRLOCK_FUZZ_CHECK(control::strong_enough_secret(value) ==
                     (value.size() >= control::kSecretMinBytes && bits >= control::kSecretMinEstimatedBits));
}

void validate_fields(const json& body) {
  validate("", [&] {
    control::reject_unknown_fields(body, {"name", "model", "description", "system", "tools", "mcp_servers", "skills",
                                          "metadata"}, "");
  });
  validate("name", [&] { check_string(control::required_string(body, "name", "", 1, 256), 1, 256); });
  validate("description", [&] {
    if (auto text = control::optional_string(body, "description", "", 0, 2048)) check_string(*text, 0, 2048);
  });
  validate("archived", [&] { (void)control::optional_bool(body, "archived", ""); });
  validate("config", [&] { (void)control::optional_object(body, "config", ""); });
  validate("metadata", [&] { check_metadata(control::metadata_for_create(body, "")); });
  validate("metadata", [&] {
    const json current = {{"kept", "1"}, {"dropped", "2"}};
    check_metadata(control::metadata_patch(current, body, "", true));
  });

  validate("model", [&] {
    if (!control::has(body, "model")) return;
    const json model = control::take_model(body["model"], "model");
    AIRLOCK_FUZZ_CHECK(model.at("id").is_string() && serialises(model));
  });
  std::optional<json> tools;
  std::optional<json> servers;
  validate("tools", [&] {
    if (control::has(body, "tools")) tools = control::take_tools(body["tools"], "tools");
  });
  validate("mcp_servers", [&] {
    if (!control::has(body, "mcp_servers")) return;
    servers = control::take_mcp_servers(body["mcp_servers"], "mcp_servers");
    std::set<std::string> names;
    for (const json& server : *servers) AIRLOCK_FUZZ_CHECK(names.insert(server.at("name").get<std::string>()).second);
  });
  validate("skills", [&] {
    if (control::has(body, "skills")) (void)control::take_skills(body["skills"], "skills");
  });
  if (tools && servers) {
    try {
      control::check_toolsets(*tools, *servers, "");
    } catch (const control::ApiError& refusal) {
      const std::string_view message = refusal.what();
      AIRLOCK_FUZZ_CHECK(message.starts_with("tools") || message.starts_with("mcp_servers"));
    }
  }

  for (const auto& [key, value] : body.items()) {
    if (value.is_string()) check_secret_strength(value.get<std::string>());
  }
}

}  // namespace
}  // namespace airlock::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace airlock;
  using namespace airlock::fuzz;
  const std::string_view bytes = as_text(data, size);
  check_printable(bytes);
  check_secret_strength(bytes);

  control::ApiRequest request;
  request.method = "POST";
  request.path = "/v1/agents";
  request.body = std::string(bytes);
  std::optional<json> body;
  validate("body", [&] { body = control::parse_body(request); });
  if (!body) return 0;
  AIRLOCK_FUZZ_CHECK(body->is_object() && serialises(*body));
  validate_fields(*body);
  return 0;
}
