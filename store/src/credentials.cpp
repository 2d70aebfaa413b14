// Credentials, always addressed through their vault, with their secret fields sealed under the master
// key (associated data per seal.hpp). Plaintext only passes through here on its way into seal() and out
// of unseal(); SQLite only ever sees the sealed bytes. Every committed change fires
// on_credentials_changed, since it can change the proxy's snapshot.
#include <fmt/format.h>
#include <boost/outcome/try.hpp>

#include "seal.hpp"
#include "store_impl.hpp"

namespace airlock::store {

namespace {

constexpr std::string_view kVaultState = "SELECT archived_at FROM vaults WHERE id = ?";
constexpr std::string_view kInsertCredential =
    "INSERT INTO credentials (id, vault_id, auth_type, secret_name, mcp_server_url, placeholder, doc, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr std::string_view kUpsertSecret =
    "INSERT INTO credential_secrets (credential_id, field, sealed) VALUES (?, ?, ?) "
    "ON CONFLICT (credential_id, field) DO UPDATE SET sealed = excluded.sealed";
constexpr std::string_view kSelectCredential =
    "SELECT id, vault_id, auth_type, secret_name, mcp_server_url, placeholder, doc, created_at, updated_at, "
    "archived_at FROM credentials WHERE id = ? AND vault_id = ?";
constexpr std::string_view kSecretFields =
    "SELECT field FROM credential_secrets WHERE credential_id = ? ORDER BY field";
constexpr std::string_view kUpdateCredential =
    "UPDATE credentials SET doc = ?1, updated_at = ?2 WHERE id = ?3 AND vault_id = ?4";
constexpr std::string_view kArchiveCredential =
    "UPDATE credentials SET archived_at = ?1, updated_at = ?1 WHERE id = ?2 AND vault_id = ?3 AND archived_at IS NULL";
constexpr std::string_view kDeleteCredential = "DELETE FROM credentials WHERE id = ? AND vault_id = ?";
constexpr std::string_view kListCredentials =
    "SELECT t.id, t.vault_id, t.auth_type, t.secret_name, t.mcp_server_url, t.placeholder, t.doc, t.created_at, "
    "t.updated_at, t.archived_at FROM credentials t WHERE t.vault_id = :vault_id AND";
constexpr std::string_view kSelectSealed =
    "SELECT c.auth_type, s.sealed FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id "
    "WHERE s.credential_id = ? AND s.field = ?";
// The primary field per auth type matches primary_field() in seal.cpp.
constexpr std::string_view kActiveCredentials =
    "SELECT c.id, c.vault_id, c.auth_type, c.secret_name, c.mcp_server_url, c.placeholder, c.doc, s.field, s.sealed "
    "FROM credentials c JOIN vaults v ON v.id = c.vault_id "
    "LEFT JOIN credential_secrets s ON s.credential_id = c.id AND s.field = CASE c.auth_type "
    "  WHEN 'environment_variable' THEN 'secret_value' WHEN 'static_bearer' THEN 'token' "
    "  WHEN 'mcp_oauth' THEN 'access_token' END "
    "WHERE c.archived_at IS NULL AND v.archived_at IS NULL ORDER BY c.vault_id, c.created_at, c.id";

Credential read_credential(const StatementUse& use) {
  Credential credential;
  credential.id = use.text(0);
  credential.vault_id = use.text(1);
  credential.auth_type = use.text(2);
  credential.secret_name = use.optional_text(3);
  credential.mcp_server_url = use.optional_text(4);
  credential.placeholder = use.optional_text(5);
  credential.doc = use.text(6);
  credential.created_at = use.text(7);
  credential.updated_at = use.text(8);
  credential.archived_at = use.optional_text(9);
  return credential;
}

std::error_code load_secret_fields(Database& db, Credential& credential) {
  auto stmt = db.statement(kSecretFields);
  if (!stmt) return stmt.error();
  StatementUse use{db, stmt.value()};
  use.bind(1, credential.id);
  for (;;) {
    auto row = use.step();
    if (!row) return row.error();
    if (!row.value()) return {};
    credential.secret_fields.push_back(use.text(0));
  }
}

Result<Credential> find_credential(Database& db, std::string_view vault_id, std::string_view id) {
  Credential credential;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kSelectCredential));
    StatementUse use{db, stmt};
    use.bind_all(id, vault_id);
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) return Errc::not_found;
    credential = read_credential(use);
  }
  if (auto ec = load_secret_fields(db, credential)) return ec;
  return credential;
}

std::error_code store_secrets(Database& db, const SecretValue& key, const Credential& credential,
                              const SecretFields& secrets) {
  for (const auto& [field, value] : secrets) {
    const auto sealed = seal(key, value.bytes(), field_associated_data(credential.id, credential.auth_type, field));
    auto stmt = db.statement(kUpsertSecret);
    if (!stmt) return stmt.error();
    StatementUse use{db, stmt.value()};
    use.bind_all(credential.id, field).bind_blob(3, sealed);
    if (auto ec = use.run()) return ec;
  }
  return {};
}

// Errc::not_found for an unknown vault, Errc::archived for an archived one.
std::error_code check_vault(Database& db, std::string_view vault_id, bool must_be_active) {
  auto stmt = db.statement(kVaultState);
  if (!stmt) return stmt.error();
  StatementUse use{db, stmt.value()};
  use.bind(1, vault_id);
  auto row = use.step();
  if (!row) return row.error();
  if (!row.value()) return Errc::not_found;
  if (must_be_active && !use.is_null(0)) return Errc::archived;
  return {};
}

}  // namespace

// NOLINTNEXTLINE(performance-unnecessary-value-param): move-only (it holds secrets), so never copied
Result<Credential> Store::create_credential(NewCredential credential) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  if (auto ec = check_vault(db, credential.vault_id, true)) return ec;

  Credential row;
  row.id = random_id("vcrd_");
  row.vault_id = credential.vault_id;
  row.auth_type = credential.auth_type;
  // The sandbox sees only the placeholder of an environment variable; it stays the same for the
  // credential's life, so a running sandbox keeps working when the secret is rotated.
  if (credential.auth_type == "environment_variable") row.placeholder = make_placeholder();
  const auto now = impl_->now();
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kInsertCredential));
    StatementUse use{db, stmt};
    use.bind_all(row.id, row.vault_id, row.auth_type, credential.secret_name, credential.mcp_server_url,
                 row.placeholder, credential.doc, now, now);
    if (auto ec = use.run()) return ec;  // Errc::conflict: secret_name or mcp_server_url in use
  }
  if (auto ec = store_secrets(db, impl_->master_key_, row, credential.secrets)) return ec;
  tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto created, find_credential(db, row.vault_id, row.id));
  if (auto ec = tx.commit()) return ec;
  return created;
}

Result<Credential> Store::get_credential(std::string_view vault_id, std::string_view id) {
  return find_credential(impl_->db_, vault_id, id);
}

Result<Credential> Store::update_credential(std::string_view vault_id, std::string_view id, std::string_view doc,
                                            // NOLINTNEXTLINE(performance-unnecessary-value-param): move-only too
                                            SecretFields replaced_secrets) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  BOOST_OUTCOME_TRY(auto current, find_credential(db, vault_id, id));
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kUpdateCredential));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(doc, impl_->now(), id, vault_id).run()) return ec;
  }
  if (auto ec = store_secrets(db, impl_->master_key_, current, replaced_secrets)) return ec;
  tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto updated, find_credential(db, vault_id, id));
  if (auto ec = tx.commit()) return ec;
  return updated;
}

Result<Credential> Store::archive_credential(std::string_view vault_id, std::string_view id) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kArchiveCredential));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(impl_->now(), id, vault_id).run()) return ec;
  }
  // No change: unknown, or archived already (archiving again returns the row as it is).
  if (db.changes() > 0) tx.credentials_changed();
  BOOST_OUTCOME_TRY(auto archived, find_credential(db, vault_id, id));
  if (auto ec = tx.commit()) return ec;
  return archived;
}

Result<void> Store::delete_credential(std::string_view vault_id, std::string_view id) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kDeleteCredential));
    StatementUse use{db, stmt};
    if (auto ec = use.bind_all(id, vault_id).run()) return ec;  // its sealed fields go by ON DELETE CASCADE
  }
  if (db.changes() == 0) return Errc::not_found;
  tx.credentials_changed();
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

Result<Page<Credential>> Store::list_credentials(std::string_view vault_id, const ListQuery& query) {
  auto& db = impl_->db_;
  if (auto ec = check_vault(db, vault_id, false)) return ec;
  Page<Credential> page;
  {
    const std::string text = std::string{kListCredentials} + std::string{kKeysetPage};
    BOOST_OUTCOME_TRY(auto stmt, db.statement(text));
    StatementUse use{db, stmt};
    use.bind(":vault_id", vault_id);
    bind_page(use, query);
    BOOST_OUTCOME_TRY(page, read_page<Credential>(use, query, read_credential));
  }
  for (auto& credential : page.items) {
    if (auto ec = load_secret_fields(db, credential)) return ec;
  }
  return page;
}

Result<SecretValue> Store::unseal_secret(std::string_view credential_id, std::string_view field) {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kSelectSealed));
  StatementUse use{db, stmt};
  use.bind_all(credential_id, field);
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return Errc::not_found;
  auto value = unseal(impl_->master_key_, use.blob(1), field_associated_data(credential_id, use.text(0), field));
  if (!value) {
    // The key was checked at open, so this value was altered or moved in the file.
    return db.fail_io(fmt::format("the sealed {} of credential {} does not authenticate: the database was altered",
                                  field, credential_id));
  }
  return std::move(*value);
}

Result<std::vector<ActiveCredential>> Store::active_credentials(
    const std::function<bool(const ActiveCredential&)>& still_held) {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kActiveCredentials));
  StatementUse use{db, stmt};
  std::vector<ActiveCredential> active;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, use.step());
    if (!row) break;
    ActiveCredential credential;
    credential.id = use.text(0);
    credential.vault_id = use.text(1);
    credential.auth_type = use.text(2);
    credential.secret_name = use.optional_text(3);
    credential.mcp_server_url = use.optional_text(4);
    credential.placeholder = use.optional_text(5);
    credential.doc = use.text(6);
    if (!use.is_null(7)) {
      const auto field = use.text(7);
      const auto sealed = use.blob(8);
      credential.sealed.assign(reinterpret_cast<const char*>(sealed.data()), sealed.size());
      if (still_held && still_held(credential)) {
        active.push_back(std::move(credential));
        continue;
      }
      auto value =
          unseal(impl_->master_key_, use.blob(8), field_associated_data(credential.id, credential.auth_type, field));
      if (!value) {
        return db.fail_io(fmt::format("the sealed {} of credential {} does not authenticate: the database was altered",
                                      field, credential.id));
      }
      credential.value = std::move(*value);
    }
    active.push_back(std::move(credential));
  }
  return active;
}

}  // namespace airlock::store
