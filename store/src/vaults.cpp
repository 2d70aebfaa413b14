// Vaults: named containers of credentials. Every change to a vault can change which credentials are
// active, so each one fires on_credentials_changed after commit; deleting a vault deletes its
// credentials and their sealed values (ON DELETE CASCADE in the schema).
#include "documents.hpp"

namespace airlock::store {

namespace {

constexpr DocumentSql kVaultSql{
    .id_prefix = "vlt_",
    .insert = "INSERT INTO vaults (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
    .select = "SELECT id, doc, created_at, updated_at, archived_at FROM vaults WHERE id = ?",
    .update = "UPDATE vaults SET doc = ?1, updated_at = ?2 WHERE id = ?3",
    .archive = "UPDATE vaults SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND archived_at IS NULL",
    .remove = "DELETE FROM vaults WHERE id = ?",
    .list = "SELECT t.id, t.doc, t.created_at, t.updated_at, t.archived_at FROM vaults t WHERE",
    .affects_credentials = true,
};

}  // namespace

Result<Document> Store::create_vault(std::string_view doc) { return create_document(*impl_, kVaultSql, doc); }
Result<Document> Store::get_vault(std::string_view id) { return get_document(*impl_, kVaultSql, id); }
Result<Document> Store::update_vault(std::string_view id, std::string_view doc) {
  return update_document(*impl_, kVaultSql, id, doc);
}
Result<Document> Store::archive_vault(std::string_view id) { return archive_document(*impl_, kVaultSql, id); }
Result<void> Store::delete_vault(std::string_view id) { return delete_document(*impl_, kVaultSql, id); }
Result<Page<Document>> Store::list_vaults(const ListQuery& query) { return list_documents(*impl_, kVaultSql, query); }

}  // namespace airlock::store
