// Environments: sandbox configurations that sessions and deployments refer to. Whether an archived one
// may still be updated or used is control's decision; the store records what it is told.
#include "documents.hpp"

namespace airlock::store {

namespace {

constexpr DocumentSql kEnvironmentSql{
    .id_prefix = "env_",
    .insert = "INSERT INTO environments (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
    .select = "SELECT id, doc, created_at, updated_at, archived_at FROM environments WHERE id = ?",
    .update = "UPDATE environments SET doc = ?1, updated_at = ?2 WHERE id = ?3",
    .archive = "UPDATE environments SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND archived_at IS NULL",
    .remove = "DELETE FROM environments WHERE id = ?",
    .list = "SELECT t.id, t.doc, t.created_at, t.updated_at, t.archived_at FROM environments t WHERE",
    .affects_credentials = false,
};

}  // namespace

Result<Document> Store::create_environment(std::string_view doc) {
  return create_document(*impl_, kEnvironmentSql, doc);
}
Result<Document> Store::get_environment(std::string_view id) { return get_document(*impl_, kEnvironmentSql, id); }
Result<Document> Store::update_environment(std::string_view id, std::string_view doc) {
  return update_document(*impl_, kEnvironmentSql, id, doc);
}
Result<Document> Store::archive_environment(std::string_view id) {
  return archive_document(*impl_, kEnvironmentSql, id);
}
Result<void> Store::delete_environment(std::string_view id) { return delete_document(*impl_, kEnvironmentSql, id); }
Result<Page<Document>> Store::list_environments(const ListQuery& query) {
  return list_documents(*impl_, kEnvironmentSql, query);
}

}  // namespace airlock::store
