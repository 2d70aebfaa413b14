// Vaults (API.md §1): create, retrieve, update, list, archive, delete.
#include <fmt/format.h>

#include "api/common/fields.hpp"
#include "api/common/listing.hpp"
#include "api/resources.hpp"

namespace airlock::control {
namespace {

constexpr std::size_t kDisplayNameMax = 255;

json vault_json(const store::Document& vault) {
  json doc = parse_doc(vault.doc);
  json out = {{"id", vault.id},
              {"type", "vault"},
              {"display_name", doc.value("display_name", "")},
              {"metadata", doc.value("metadata", json::object())}};
  out.update(timestamps_json(vault.created_at, vault.updated_at, vault.archived_at));
  return out;
}

Reply create(store::Store& store, ApiRequest& request) {
  json body = parse_body(request);
  reject_unknown_fields(body, {"display_name", "metadata"}, "");
  json doc = {{"display_name", required_string(body, "display_name", "", 1, kDisplayNameMax)},
              {"metadata", metadata_for_create(body, "")}};
  return {200, vault_json(take(store.create_vault(doc.dump()), "vault", "")), {}};
}

Reply update(store::Store& store, ApiRequest& request) {
  const std::string& id = request.param("vault_id");
  json body = parse_body(request);
  reject_unknown_fields(body, {"display_name", "metadata"}, "");
  store::Document vault = take(store.get_vault(id), "vault", id);
  json doc = parse_doc(vault.doc);
  if (auto name = optional_string(body, "display_name", "", 1, kDisplayNameMax)) doc["display_name"] = *name;
  doc["metadata"] = metadata_patch(doc.value("metadata", json::object()), body, "");
  return {200, vault_json(take(store.update_vault(id, doc.dump()), "vault", id)), {}};
}

}  // namespace

void add_vault_routes(Router& router, store::Store& store) {
  router.add("POST", "/v1/vaults", [&store](ApiRequest& r) { return create(store, r); });
  router.add("GET", "/v1/vaults", [&store](ApiRequest& r) {
    return Reply{200, page_json(take(store.list_vaults(list_query(r)), "vaults", ""), vault_json), {}};
  });
  router.add("GET", "/v1/vaults/{vault_id}", [&store](ApiRequest& r) {
    const std::string& id = r.param("vault_id");
    return Reply{200, vault_json(take(store.get_vault(id), "vault", id)), {}};
  });
  router.add("POST", "/v1/vaults/{vault_id}", [&store](ApiRequest& r) { return update(store, r); });
  router.add("POST", "/v1/vaults/{vault_id}/archive", [&store](ApiRequest& r) {
    const std::string& id = r.param("vault_id");
    return Reply{200, vault_json(take(store.archive_vault(id), "vault", id)), {}};
  });
  router.add("DELETE", "/v1/vaults/{vault_id}", [&store](ApiRequest& r) {
    const std::string& id = r.param("vault_id");
    take(store.delete_vault(id), "vault", id);
    return deleted_reply(id, "vault_deleted");
  });
}

}  // namespace airlock::control
