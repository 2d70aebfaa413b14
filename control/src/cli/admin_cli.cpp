// The admin CLI; see admin_cli.hpp.
#include "cli/admin_cli.hpp"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airlock/control/commands.hpp"
#include "cli/table.hpp"
#include "http/control_client.hpp"

namespace airlock::control::cli {
namespace {

using json = nlohmann::json;

constexpr std::string_view kDefaultUrl = "http://127.0.0.1:8420";
constexpr std::size_t kDefaultListLimit = 100;  // items a list prints unless --limit says otherwise
constexpr std::size_t kPageSize = 100;          // the API's largest page
constexpr auto kRequestTimeout = std::chrono::seconds(30);
// An event stream pings every 15 s; a read this long without a byte means the daemon is gone.
constexpr auto kStreamTimeout = std::chrono::seconds(60);

struct Column {
  std::string_view header;
  std::string_view pointer;  // JSON pointer into one item
};

struct Resource {
  std::string_view name;
  std::string_view path;      // the collection; "{}" is the parent's id (credentials: the vault)
  std::string_view parent;    // "VAULT" for credentials, else empty
  std::vector<Column> columns;
  bool create = true;
  bool update = true;
  bool archive = true;
  bool remove = true;         // DELETE
};

const std::vector<Resource>& resources() {
  static const std::vector<Resource> kResources = {
      {"vaults", "/v1/vaults", "",
       {{"ID", "/id"}, {"NAME", "/display_name"}, {"CREATED", "/created_at"}, {"ARCHIVED", "/archived_at"}}},
      {"credentials", "/v1/vaults/{}/credentials", "VAULT",
       {{"ID", "/id"}, {"TYPE", "/auth/type"}, {"SECRET NAME", "/auth/secret_name"}, {"MCP SERVER", "/auth/mcp_server_url"},
        {"HOSTS", "/auth/networking/allowed_hosts"}, {"CREATED", "/created_at"}, {"ARCHIVED", "/archived_at"}}},
      {"agents", "/v1/agents", "",
       {{"ID", "/id"}, {"NAME", "/name"}, {"MODEL", "/model/id"}, {"VERSION", "/version"}, {"CREATED", "/created_at"},
        {"ARCHIVED", "/archived_at"}},
       true, true, true, false},
      {"environments", "/v1/environments", "",
       {{"ID", "/id"}, {"NAME", "/name"}, {"CREATED", "/created_at"}, {"ARCHIVED", "/archived_at"}}},
      {"sessions", "/v1/sessions", "",
       {{"ID", "/id"}, {"STATUS", "/status"}, {"AGENT", "/agent/id"}, {"ENVIRONMENT", "/environment_id"},
        {"CREATED", "/created_at"}, {"ARCHIVED", "/archived_at"}}},
      {"deployments", "/v1/deployments", "",
       {{"ID", "/id"}, {"NAME", "/name"}, {"STATUS", "/status"}, {"SCHEDULE", "/schedule/expression"},
        {"TIME ZONE", "/schedule/timezone"}, {"NEXT RUN", "/schedule/upcoming_runs_at/0"}, {"LAST RUN", "/schedule/last_run_at"}},
       true, true, true, false},
      {"runs", "/v1/deployment_runs", "",
       {{"ID", "/id"}, {"DEPLOYMENT", "/deployment_id"}, {"SESSION", "/session_id"}, {"ERROR", "/error/type"},
        {"CREATED", "/created_at"}},
       false, false, false, false},
  };
  return kResources;
}

const Resource* find_resource(std::string_view name) {
  for (const Resource& resource : resources()) {
    if (resource.name == name) return &resource;
  }
  return nullptr;
}

// A usage error: exit code 2, the message and where to look.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The API answered with an error, or could not be reached: exit code 1.
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string usage(const Resource& r) {
  const std::string parent = r.parent.empty() ? "" : fmt::format("{} ", r.parent);
  std::string text = fmt::format("usage: airlock {} list {}[--limit N] [--include-archived]{}\n", r.name, parent,
                                 r.name == "runs" ? " [--deployment ID]" : "");
  text += fmt::format("       airlock {} get {}ID\n", r.name, parent);
  if (r.name == "credentials") {
    text += "       airlock credentials create VAULT --secret-name NAME (--host HOST... | --unrestricted)\n"
            "                                 [--from-env VAR | --from-file FILE] [--data JSON]\n"
            "       airlock credentials create VAULT --mcp-server-url URL [--from-env VAR | --from-file FILE] [--data JSON]\n"
            "       airlock credentials update VAULT ID [--from-env VAR | --from-file FILE | --prompt] [--data JSON]\n";
  } else {
    if (r.create) text += fmt::format("       airlock {} create --data JSON|@FILE|-\n", r.name);
    if (r.update) text += fmt::format("       airlock {} update ID --data JSON|@FILE|-\n", r.name);
  }
  if (r.archive) text += fmt::format("       airlock {} archive {}ID\n", r.name, parent);
  if (r.remove) text += fmt::format("       airlock {} delete {}ID\n", r.name, parent);
  if (r.name == "sessions") {
    text += "       airlock sessions events ID [--follow]\n"
            "       airlock sessions egress ID\n";
  }
  if (r.name == "deployments") {
    text += "       airlock deployments run|pause|unpause|next ID\n";
  }
  text += "options: --url URL (AIRLOCK_URL), --api-key KEY (AIRLOCK_API_KEY, else ./.airlock/admin.key), --json\n"
          "A secret is never an argument: --from-env VAR, --from-file FILE, or the prompt (no echo).\n";
  return text;
}

// The command line after the resource: verb, positional arguments and flags.
struct Args {
  std::string verb;
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> flags;  // "--host" -> values; switches have ""

  bool has(const std::string& flag) const { return flags.contains(flag); }
  std::optional<std::string> one(const std::string& flag) const {
    auto found = flags.find(flag);
    if (found == flags.end()) return std::nullopt;
    if (found->second.size() > 1) throw UsageError(fmt::format("{} is given more than once", flag));
    return found->second.front();
  }
  const std::vector<std::string>& all(const std::string& flag) const {
    static const std::vector<std::string> kNone;
    auto found = flags.find(flag);
    return found == flags.end() ? kNone : found->second;
  }
};

constexpr std::array kValueFlags = {"--url", "--api-key", "--data", "--limit", "--deployment", "--secret-name", "--host",
                                    "--from-env", "--from-file", "--mcp-server-url", "--display-name"};
constexpr std::array kSwitches = {"--json", "--include-archived", "--unrestricted", "--follow", "--prompt", "--help"};
// Flags that would put a secret on the command line, where ps and shell history see it.
constexpr std::array kSecretFlags = {"--secret-value", "--secret", "--token", "--value", "--access-token"};

Args parse_args(std::span<const std::string_view> args) {
  Args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg(args[i]);
    std::optional<std::string> inline_value;
    if (arg.starts_with("--")) {
      if (const std::size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
      }
      if (std::find(kSecretFlags.begin(), kSecretFlags.end(), arg) != kSecretFlags.end()) {
        throw UsageError(fmt::format("{}: secrets are never taken on the command line, where other users and the shell "
                                     "history see them; use --from-env VAR, --from-file FILE or the prompt",
                                     arg));
      }
      if (std::find(kSwitches.begin(), kSwitches.end(), arg) != kSwitches.end()) {
        if (inline_value) throw UsageError(fmt::format("{} takes no value", arg));
        out.flags[arg].emplace_back();
      } else if (std::find(kValueFlags.begin(), kValueFlags.end(), arg) != kValueFlags.end()) {
        if (!inline_value) {
          if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", arg));
          inline_value = std::string(args[++i]);
        }
        out.flags[arg].push_back(*inline_value);
      } else {
        throw UsageError(fmt::format("unknown option {}", arg));
      }
    } else if (out.verb.empty()) {
      out.verb = arg;
    } else {
      out.positional.push_back(arg);
    }
  }
  return out;
}

std::string trim_line_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot read {}", what, path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --data JSON, @FILE or - (stdin): a JSON object.
json data_of(const Args& args, Surroundings& io) {
  const std::optional<std::string> given = args.one("--data");
  if (!given) return json::object();
  std::string text = *given;
  if (text == "-") {
    std::ostringstream all;
    all << io.in.rdbuf();
    text = all.str();
  } else if (text.starts_with("@")) {
    text = read_file(text.substr(1), "--data");
  }
  json parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) throw UsageError("--data: not a JSON object");
  return parsed;
}

// Terminal echo off for as long as it lives (the prompt for a secret).
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// The secret value: --from-env VAR, --from-file FILE (one trailing line feed dropped), or a line read
// from stdin (a prompt without echo on a terminal).
std::string secret_value(const Args& args, Surroundings& io, std::string_view for_what) {
  const auto env = args.one("--from-env");
  const auto file = args.one("--from-file");
  if (env && file) throw UsageError("--from-env and --from-file: give one");
  std::string value;
  if (env) {
    const std::optional<std::string> found = io.getenv(*env);
    if (!found || found->empty()) throw UsageError(fmt::format("--from-env: the environment variable {} is not set", *env));
    value = *found;
  } else if (file) {
    value = trim_line_end(read_file(*file, "--from-file"));
  } else {
    if (io.interactive) io.err << fmt::format("secret value for {} (not echoed): ", for_what) << std::flush;
    std::string line;
    {
      std::optional<EchoOff> quiet;
      if (io.interactive) quiet.emplace();
      std::getline(io.in, line);
    }
    if (io.interactive) io.err << "\n";
    value = trim_line_end(line);
  }
  if (value.empty()) throw UsageError(fmt::format("the secret value for {} is empty", for_what));
  return value;
}

// Deep merge: what --data gives adds to (or replaces) what the flags built.
void merge(json& into, const json& from) {
  for (const auto& [key, value] : from.items()) {
    if (value.is_object() && into.contains(key) && into[key].is_object()) {
      merge(into[key], value);
    } else {
      into[key] = value;
    }
  }
}

std::string percent_encode(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

class Client {
 public:
  Client(const Args& args, Surroundings& io) {
    std::string url = args.one("--url").value_or(io.getenv("AIRLOCK_URL").value_or(std::string(kDefaultUrl)));
    auto parsed = ControlUrl::parse(url);
    if (!parsed) throw UsageError(fmt::format("--url: \"{}\" is not an http:// or https:// URL", url));
    std::string key;
    if (auto given = args.one("--api-key")) {
      key = *given;
    } else if (auto env = io.getenv("AIRLOCK_API_KEY"); env && !env->empty()) {
      key = env->substr(0, env->find(','));
    } else if (std::ifstream file(".airlock/admin.key"); file) {
      std::getline(file, key);
    }
    key = trim_line_end(key);
    if (key.empty()) {
      throw UsageError("no API key: pass --api-key KEY, set AIRLOCK_API_KEY, or run where .airlock/admin.key is");
    }
    url_ = url;
    client_.emplace(*parsed, key, std::nullopt, 0, kRequestTimeout);
    stream_client_.emplace(*parsed, key, std::nullopt, 0, kStreamTimeout);
  }

  // The JSON body of a 2xx answer; otherwise a Failure with the API's own words.
  json call(std::string_view method, const std::string& target, const std::optional<json>& body = std::nullopt) {
    ControlResponse response;
    try {
      response = client_->request(method, target, body ? body->dump() : std::string());
    } catch (const ControlUnreachable& e) {
      throw Failure(fmt::format("cannot reach Airlock at {}: {}", url_, e.what()));
    }
    return checked(response);
  }

  // An event stream: each frame's event name and data, as they arrive, until the server ends it.
  void follow(const std::string& target, const std::function<void(std::string_view, std::string_view)>& on_frame) {
    std::string pending;
    ControlResponse response;
    try {
      response = stream_client_->stream("GET", target, [&](std::string_view bytes) {
        pending.append(bytes);
        for (std::size_t end = pending.find("\n\n"); end != std::string::npos; end = pending.find("\n\n")) {
          const std::string frame = pending.substr(0, end);
          pending.erase(0, end + 2);
          std::string_view event;
          std::string_view data;
          std::string_view rest = frame;
          while (!rest.empty()) {
            const std::size_t newline = rest.find('\n');
            const std::string_view line = rest.substr(0, newline);
            rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
            if (line.starts_with("event: ")) event = line.substr(7);
            if (line.starts_with("data: ")) data = line.substr(6);
          }
          on_frame(event, data);
        }
        return true;
      });
    } catch (const ControlUnreachable& e) {
      throw Failure(fmt::format("the event stream from {} ended: {}", url_, e.what()));
    }
    if (response.status != 200) (void)checked(response);
  }

 private:
  static json checked(const ControlResponse& response) {
    json body = json::parse(response.body, nullptr, false);
    if (response.status >= 200 && response.status < 300) {
      if (body.is_discarded()) throw Failure(fmt::format("the API answered {} with a body that is not JSON", response.status));
      return body;
    }
    if (!body.is_discarded() && body.contains("error") && body["error"].is_object()) {
      const json& error = body["error"];
      throw Failure(fmt::format("{} {}: {}", response.status, error.value("type", "error"), error.value("message", "")));
    }
    throw Failure(fmt::format("the API answered {}", response.status));
  }

  std::string url_;
  std::optional<ControlClient> client_;
  std::optional<ControlClient> stream_client_;
};

std::string collection_path(const Resource& r, const std::vector<std::string>& positional, std::size_t& used) {
  used = 0;
  if (r.parent.empty()) return std::string(r.path);
  if (positional.empty()) throw UsageError(fmt::format("{} needs its {} id first", r.name, r.parent));
  used = 1;
  std::string path(r.path);
  path.replace(path.find("{}"), 2, percent_encode(positional[0]));
  return path;
}

void print_object(const json& object, bool as_json, std::ostream& out) {
  if (as_json) {
    out << object.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, value] : object.items()) rows.push_back({key, cell(value)});
  out << render_table({"FIELD", "VALUE"}, rows);
}

void print_items(const Resource& r, const std::vector<json>& items, bool as_json, std::ostream& out) {
  if (as_json) {
    out << json(items).dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return;
  }
  std::vector<std::string> headers;
  for (const Column& column : r.columns) headers.emplace_back(column.header);
  std::vector<std::vector<std::string>> rows;
  rows.reserve(items.size());
  for (const json& item : items) {
    std::vector<std::string> row;
    for (const Column& column : r.columns) row.push_back(cell(at_pointer(item, column.pointer)));
    rows.push_back(std::move(row));
  }
  out << render_table(headers, rows);
}

// Follows next_page until `limit` items (0: all).
std::vector<json> list_all(Client& client, const std::string& path, const std::string& query, std::size_t limit) {
  std::vector<json> items;
  std::optional<std::string> page;
  for (;;) {
    std::string target = fmt::format("{}?limit={}{}", path, kPageSize, query);
    if (page) target += "&page=" + percent_encode(*page);
    const json body = client.call("GET", target);
    for (const json& item : body.value("data", json::array())) {
      items.push_back(item);
      if (limit > 0 && items.size() >= limit) return items;
    }
    const json& next = at_pointer(body, "/next_page");
    if (!next.is_string() || next.get<std::string>().empty()) return items;
    page = next.get<std::string>();
  }
}

std::size_t limit_of(const Args& args) {
  const auto given = args.one("--limit");
  if (!given) return kDefaultListLimit;
  if (!given->empty() && std::all_of(given->begin(), given->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    try {
      return std::stoul(*given);
    } catch (const std::out_of_range&) {
    }
  }
  throw UsageError(fmt::format("--limit: \"{}\" is not a number (0 lists everything)", *given));
}

// One line per event for people: when, what, and its text (or its fields).
std::string event_line(const json& event) {
  std::string summary;
  if (const json& content = at_pointer(event, "/content"); content.is_array()) {
    for (const json& block : content) {
      if (block.is_object() && block.value("type", "") == "text") summary += block.value("text", "");
    }
  }
  if (summary.empty()) {
    json rest = event;
    for (const char* key : {"id", "type", "processed_at"}) rest.erase(key);
    summary = rest.empty() ? "" : rest.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  for (char& c : summary) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return fmt::format("{}  {}  {}", cell(at_pointer(event, "/processed_at")), cell(at_pointer(event, "/type")), summary);
}

std::string need_id(const Args& args, std::size_t index, std::string_view what) {
  if (args.positional.size() <= index) throw UsageError(fmt::format("{} needs an id", what));
  if (args.positional.size() > index + 1) {
    throw UsageError(fmt::format("unexpected argument \"{}\"", args.positional[index + 1]));
  }
  return args.positional[index];
}

json credential_body(const Args& args, Surroundings& io, const json& data, bool create, const json& existing) {
  json auth = json::object();
  const auto secret_name = args.one("--secret-name");
  const auto mcp_url = args.one("--mcp-server-url");
  const bool wants_secret = create || args.has("--from-env") || args.has("--from-file") || args.has("--prompt");
  if (create) {
    if (secret_name && mcp_url) throw UsageError("--secret-name and --mcp-server-url: give one");
    if (mcp_url) {
      auth = {{"type", "static_bearer"}, {"mcp_server_url", *mcp_url}};
    } else if (secret_name) {
      auth = {{"type", "environment_variable"}, {"secret_name", *secret_name}};
      const auto& hosts = args.all("--host");
      if (args.has("--unrestricted") == !hosts.empty()) {
        throw UsageError("say where the secret may go: --host HOST (repeatable) or --unrestricted");
      }
      auth["networking"] = args.has("--unrestricted") ? json{{"type", "unrestricted"}}
                                                      : json{{"type", "limited"}, {"allowed_hosts", hosts}};
    } else if (!data.contains("auth")) {
      throw UsageError("credentials create needs --secret-name NAME or --mcp-server-url URL");
    }
  } else {
    if (secret_name || mcp_url) throw UsageError("a credential's secret name and MCP server URL never change");
    if (args.has("--host") || args.has("--unrestricted")) {
      auth["networking"] = args.has("--unrestricted") ? json{{"type", "unrestricted"}}
                                                      : json{{"type", "limited"}, {"allowed_hosts", args.all("--host")}};
    }
    if (wants_secret || !auth.empty()) auth["type"] = at_pointer(existing, "/auth/type");
  }
  if (wants_secret && auth.contains("type")) {
    const std::string type = auth["type"].is_string() ? auth["type"].get<std::string>() : "";
    const std::string name = type == "environment_variable"
                                 ? cell(secret_name ? json(*secret_name) : at_pointer(existing, "/auth/secret_name"))
                                 : cell(mcp_url ? json(*mcp_url) : at_pointer(existing, "/auth/mcp_server_url"));
    if (type == "environment_variable") {
      auth["secret_value"] = secret_value(args, io, name);
    } else if (type == "static_bearer") {
      auth["token"] = secret_value(args, io, name);
    } else {
      throw UsageError(fmt::format("the CLI sets secrets of environment_variable and static_bearer credentials only; "
                                   "this one is {}", type));
    }
  }
  json body = json::object();
  if (!auth.empty()) body["auth"] = auth;
  if (auto name = args.one("--display-name")) body["display_name"] = *name;
  merge(body, data);
  if (body.empty()) throw UsageError("nothing to change: give --from-env, --from-file, --prompt, --host or --data");
  return body;
}

bool knows(const Resource& r, std::string_view verb) {
  return verb == "list" || verb == "get" || (verb == "create" && r.create) || (verb == "update" && r.update) ||
         (verb == "archive" && r.archive) || (verb == "delete" && r.remove) ||
         (r.name == "sessions" && (verb == "events" || verb == "egress")) ||
         (r.name == "deployments" && (verb == "run" || verb == "pause" || verb == "unpause" || verb == "next"));
}

int run(const Resource& r, const Args& args, Surroundings& io) {
  const bool as_json = args.has("--json");
  if (args.has("--help")) {
    io.out << usage(r);
    return 0;
  }
  if (args.verb.empty()) {
    io.err << usage(r);
    return 2;
  }
  if (!knows(r, args.verb)) throw UsageError(fmt::format("airlock {} has no command \"{}\"", r.name, args.verb));
  Client client(args, io);
  std::size_t used = 0;
  const std::string verb = args.verb;

  if (verb == "list") {
    const std::string path = collection_path(r, args.positional, used);
    if (args.positional.size() > used) throw UsageError(fmt::format("unexpected argument \"{}\"", args.positional[used]));
    std::string query;
    if (args.has("--include-archived")) query += "&include_archived=true";
    if (auto deployment = args.one("--deployment")) {
      if (r.name != "runs") throw UsageError("--deployment filters runs only");
      query += "&deployment_id=" + percent_encode(*deployment);
    }
    print_items(r, list_all(client, path, query, limit_of(args)), as_json, io.out);
    return 0;
  }

  const std::string collection = collection_path(r, args.positional, used);
  auto item = [&](const std::string& id) { return fmt::format("{}/{}", collection, percent_encode(id)); };

  if (verb == "get") {
    print_object(client.call("GET", item(need_id(args, used, "get"))), as_json, io.out);
    return 0;
  }
  if (verb == "create" && r.create) {
    if (args.positional.size() > used) throw UsageError(fmt::format("unexpected argument \"{}\"", args.positional[used]));
    json body = r.name == "credentials" ? credential_body(args, io, data_of(args, io), true, json::object()) : data_of(args, io);
    if (r.name != "credentials" && body.empty()) throw UsageError(fmt::format("{} create needs --data JSON", r.name));
    print_object(client.call("POST", collection, body), as_json, io.out);
    return 0;
  }
  if (verb == "update" && r.update) {
    const std::string id = need_id(args, used, "update");
    json body;
    if (r.name == "credentials") {
      body = credential_body(args, io, data_of(args, io), false, client.call("GET", item(id)));
    } else {
      body = data_of(args, io);
      if (body.empty()) throw UsageError(fmt::format("{} update needs --data JSON", r.name));
    }
    print_object(client.call("POST", item(id), body), as_json, io.out);
    return 0;
  }
  if (verb == "archive" && r.archive) {
    print_object(client.call("POST", item(need_id(args, used, "archive")) + "/archive", json::object()), as_json, io.out);
    return 0;
  }
  if (verb == "delete" && r.remove) {
    print_object(client.call("DELETE", item(need_id(args, used, "delete"))), as_json, io.out);
    return 0;
  }
  if (r.name == "sessions" && verb == "events") {
    const std::string id = need_id(args, used, "events");
    const std::string events_path = item(id) + "/events";
    const std::size_t limit = args.has("--limit") ? limit_of(args) : 0;  // a session's whole history by default
    std::set<std::string> printed;  // event ids: the history and the stream overlap where they meet
    auto print = [&](const json& event) {
      if (const json& event_id = at_pointer(event, "/id"); event_id.is_string() && !printed.insert(event_id.get<std::string>()).second) {
        return;
      }
      io.out << (as_json ? event.dump(-1, ' ', false, json::error_handler_t::replace) : event_line(event)) << "\n"
             << std::flush;
    };
    // Oldest first, every page; then, with --follow, what arrives.
    for (const json& event : list_all(client, events_path, "", limit)) print(event);
    if (!args.has("--follow")) return 0;
    bool open = false;
    client.follow(item(id) + "/events/stream", [&](std::string_view event, std::string_view data) {
      if (event == "ping") {
        if (!open) {
          // The stream starts after the newest event at the moment it opened: what came between the
          // history above and now is read once more.
          open = true;
          io.err << fmt::format("following {} (Ctrl-C to stop)\n", id) << std::flush;
          for (const json& missed : list_all(client, events_path, "", 0)) print(missed);
        }
        return;
      }
      json parsed = json::parse(data, nullptr, false);
      if (!parsed.is_discarded()) print(parsed);
    });
    return 0;
  }
  if (r.name == "sessions" && verb == "egress") {
    const std::string id = need_id(args, used, "egress");
    std::vector<json> rows = list_all(client, item(id) + "/egress", "", limit_of(args));
    if (as_json) {
      io.out << json(rows).dump(2) << "\n";
      return 0;
    }
    std::vector<std::vector<std::string>> table;
    table.reserve(rows.size());
    for (const json& row : rows) {
      table.push_back({cell(at_pointer(row, "/created_at")), cell(at_pointer(row, "/method")), cell(at_pointer(row, "/host")),
                       cell(at_pointer(row, "/path")), cell(at_pointer(row, "/status")), cell(at_pointer(row, "/decision")),
                       cell(at_pointer(row, "/reason"))});
    }
    io.out << render_table({"TIME", "METHOD", "HOST", "PATH", "STATUS", "DECISION", "REASON"}, table);
    return 0;
  }
  if (r.name == "deployments" && (verb == "run" || verb == "pause" || verb == "unpause")) {
    print_object(client.call("POST", item(need_id(args, used, verb)) + "/" + verb, json::object()), as_json, io.out);
    return 0;
  }
  if (r.name == "deployments" && verb == "next") {
    const json deployment = client.call("GET", item(need_id(args, used, "next")));
    const json& upcoming = at_pointer(deployment, "/schedule/upcoming_runs_at");
    if (as_json) {
      io.out << upcoming.dump() << "\n";
    } else if (upcoming.is_array()) {
      for (const json& at : upcoming) io.out << cell(at) << "\n";
    }
    return 0;
  }
  throw UsageError(fmt::format("airlock {} has no command \"{}\"", r.name, verb));
}

}  // namespace

bool is_resource(std::string_view name) { return find_resource(name) != nullptr; }

int admin_command(std::string_view resource, std::span<const std::string_view> args) {
  Surroundings io{[](const std::string& name) -> std::optional<std::string> {
                    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): one thread here
                    return value ? std::optional<std::string>(value) : std::nullopt;
                  },
                  std::cin, std::cout, std::cerr, ::isatty(STDIN_FILENO) == 1};
  return admin_command(resource, args, io);
}

int admin_command(std::string_view resource, std::span<const std::string_view> args, Surroundings& io) {
  const Resource* r = find_resource(resource);
  if (r == nullptr) {
    io.err << fmt::format("airlock: unknown command \"{}\"\n", resource);
    return 2;
  }
  try {
    return run(*r, parse_args(args), io);
  } catch (const UsageError& e) {
    io.err << fmt::format("airlock {}: {}\n{}", resource, e.what(), usage(*r));
    return 2;
  } catch (const Failure& e) {
    io.err << fmt::format("airlock {}: {}\n", resource, e.what());
    return 1;
  }
}

}  // namespace airlock::control::cli

namespace airlock::control {

bool is_admin_resource(std::string_view name) { return cli::is_resource(name); }

int admin_command(std::string_view resource, std::span<const std::string_view> args) {
  return cli::admin_command(resource, args);
}

}  // namespace airlock::control
