// Vaults and environments share one shape (id, doc, timestamps, archived_at); these functions implement
// their use cases once, over the table-specific SQL each file names at its top.
#pragma once

#include <string_view>

#include "store_impl.hpp"

namespace airlock::store {

struct DocumentSql {
  std::string_view id_prefix;  // "vlt_", "env_"
  std::string_view insert;     // (id, doc, created_at, updated_at)
  std::string_view select;     // id, doc, created_at, updated_at, archived_at WHERE id = ?
  std::string_view update;     // SET doc = ?1, updated_at = ?2 WHERE id = ?3
  std::string_view archive;    // SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND archived_at IS NULL
  std::string_view remove;     // WHERE id = ?
  std::string_view list;       // SELECT the same columns FROM <table> t WHERE, followed by kKeysetPage
  bool affects_credentials;    // changes fire on_credentials_changed (vaults)
};

Result<Document> create_document(StoreState& impl, const DocumentSql& sql, std::string_view doc);
Result<Document> get_document(StoreState& impl, const DocumentSql& sql, std::string_view id);
Result<Document> update_document(StoreState& impl, const DocumentSql& sql, std::string_view id, std::string_view doc);
Result<Document> archive_document(StoreState& impl, const DocumentSql& sql, std::string_view id);
Result<void> delete_document(StoreState& impl, const DocumentSql& sql, std::string_view id);
Result<Page<Document>> list_documents(StoreState& impl, const DocumentSql& sql, const ListQuery& query);

}  // namespace airlock::store
