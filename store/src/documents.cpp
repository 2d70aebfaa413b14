// The use cases shared by vaults and environments (see documents.hpp).
#include "documents.hpp"

#include <boost/outcome/try.hpp>

namespace airlock::store {

namespace {

Document read_document(const StatementUse& use) {
  return Document{use.text(0), use.text(1), use.text(2), use.text(3), use.optional_text(4)};
}

}  // namespace

Result<Document> get_document(StoreState& impl, const DocumentSql& sql, std::string_view id) {
  BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql.select));
  StatementUse use{impl.db_, stmt};
  use.bind(1, id);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::not_found;
  return read_document(use);
}

Result<Document> create_document(StoreState& impl, const DocumentSql& sql, std::string_view doc) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  const auto id = random_id(sql.id_prefix);
  const auto now = impl.now();
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql.insert));
    StatementUse use{impl.db_, stmt};
    if (auto ec = use.bind_all(id, doc, now, now).run()) return ec;
  }
  if (sql.affects_credentials) tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto created, get_document(impl, sql, id));
  if (auto ec = tx.commit()) return ec;
  return created;
}

Result<Document> update_document(StoreState& impl, const DocumentSql& sql, std::string_view id, std::string_view doc) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql.update));
    StatementUse use{impl.db_, stmt};
    if (auto ec = use.bind_all(doc, impl.now(), id).run()) return ec;
  }
  if (impl.db_.changes() == 0) return Errc::not_found;
  if (sql.affects_credentials) tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto updated, get_document(impl, sql, id));
  if (auto ec = tx.commit()) return ec;
  return updated;
}

Result<Document> archive_document(StoreState& impl, const DocumentSql& sql, std::string_view id) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql.archive));
    StatementUse use{impl.db_, stmt};
    if (auto ec = use.bind_all(impl.now(), id).run()) return ec;
  }
  // No change: unknown, or archived already (archiving again returns the row as it is).
  if (impl.db_.changes() > 0 && sql.affects_credentials) tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto archived, get_document(impl, sql, id));
  if (auto ec = tx.commit()) return ec;
  return archived;
}

Result<void> delete_document(StoreState& impl, const DocumentSql& sql, std::string_view id) {
  WriteTransaction tx{impl};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(sql.remove));
    StatementUse use{impl.db_, stmt};
    if (auto ec = use.bind(1, id).run()) return ec;
  }
  if (impl.db_.changes() == 0) return Errc::not_found;
  if (sql.affects_credentials) tx.credentials_changed();
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

Result<Page<Document>> list_documents(StoreState& impl, const DocumentSql& sql, const ListQuery& query) {
  const std::string text = std::string{sql.list} + std::string{kKeysetPage};
  BOOST_OUTCOME_TRY(auto stmt, impl.db_.statement(text));
  StatementUse use{impl.db_, stmt};
  bind_page(use, query);
  return read_page<Document>(use, query, read_document);
}

}  // namespace airlock::store
