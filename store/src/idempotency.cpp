// Idempotency-Key records: the response a keyed request produced, kept 24 hours. remember_idempotent
// joins the caller's transaction, so a resource and the response that reports it commit together.
// A record older than the window is treated as absent even before purge_idempotent removes it, and a
// new request may take its key over.
#include <chrono>

#include <boost/outcome/try.hpp>

#include "store_impl.hpp"

namespace airlock::store {

namespace {

constexpr auto kKeepFor = std::chrono::hours{24};

constexpr std::string_view kFind =
    "SELECT request_hash, status, body, created_at FROM idempotency WHERE key = ? AND created_at >= ?";
// Takes over an expired key; an unexpired one stays, and changes() == 0 reports the conflict.
constexpr std::string_view kRemember =
    "INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, "
    "body = excluded.body, created_at = excluded.created_at WHERE idempotency.created_at < ?6";
constexpr std::string_view kPurge = "DELETE FROM idempotency WHERE created_at < ?";

}  // namespace

Result<std::optional<IdempotentResponse>> Store::find_idempotent(std::string_view key) {
  auto& db = impl_->db_;
  BOOST_OUTCOME_TRY(auto stmt, db.statement(kFind));
  StatementUse use{db, stmt};
  use.bind_all(key, format_time(impl_->clock_() - kKeepFor));
  BOOST_OUTCOME_TRY(auto row, use.step());
  if (!row) return std::optional<IdempotentResponse>{};
  return std::optional<IdempotentResponse>{
      IdempotentResponse{use.text(0), static_cast<int>(use.integer(1)), use.text(2), use.text(3)}};
}

Result<void> Store::remember_idempotent(std::string_view key, const IdempotentResponse& response) {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  const auto now = impl_->clock_();
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kRemember));
    StatementUse use{db, stmt};
    use.bind_all(key, response.request_hash, response.status, response.body, format_time(now),
                 format_time(now - kKeepFor));
    if (auto ec = use.run()) return ec;
  }
  if (db.changes() == 0) return Errc::conflict;  // a live record already holds this key
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

Result<void> Store::purge_idempotent() {
  auto& db = impl_->db_;
  WriteTransaction tx{*impl_};
  if (auto ec = tx.begin()) return ec;
  {
    BOOST_OUTCOME_TRY(auto stmt, db.statement(kPurge));
    StatementUse use{db, stmt};
    if (auto ec = use.bind(1, format_time(impl_->clock_() - kKeepFor)).run()) return ec;
  }
  if (auto ec = tx.commit()) return ec;
  return boost::outcome_v2::success();
}

}  // namespace airlock::store
