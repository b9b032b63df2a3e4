// Project error codes, their std::error_category, and an expected-style result.
//
// Parsers and crypto never throw on bad input: they return result<T> holding
// either a value or an `error` (a std::error_code plus a human-readable detail
// saying what was wrong and why).
#pragma once

#include <topicswarm/export.hpp>

#include <cassert>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace topicswarm {

enum class errc {
  // ids, parsing, arguments
  invalid_id = 1,
  invalid_endpoint,
  invalid_argument,
  // identity files
  identity_io,
  identity_malformed,
  identity_insecure_permissions,
  // crypto
  crypto_failure,
  // topic records (each way a record can fail is distinct)
  record_bad_length,
  record_decryption_failed,
  record_bad_signature,
  record_wrong_topic,
  record_wrong_window,
  record_unsupported_version,
  record_too_large,
  // DHT
  dht_start_failed,
  dht_timeout,
  dht_put_failed,
  dht_stopped,
  testnet_not_ready,
  // gossip wire messages
  malformed_message,
  message_too_large,
  // transport and node
  handshake_failed,
  peer_identity_mismatch,
  dial_failed,
  bind_failed,
  connection_closed,
  node_stopped,
  topic_closed,
  timeout,
  operation_aborted,
  // added by the secret-gated swarm (issue 13); appended so values stay stable
  record_format_obsolete,    // a format 1 value: no longer read
  record_seq_out_of_range,   // BEP 44 seq outside the window's millisecond range
  not_admitted,              // a peer did not prove the topic key on this connection
  secret_hash_failed,        // Argon2id could not run (memory, parameters)
  // network discovery (issue 14)
  peer_entry_too_large,      // a catalog entry over its size bound
  peer_entry_malformed,      // a catalog entry that does not decode (or breaks a limit)
  peer_entry_bad_signature,  // a catalog entry or departure not signed by its node
  peer_entry_unsupported_version,  // a catalog entry of a format we do not read
  // DHT bootstrap chain records (issue 14); one code per check, in the
  // order a reader makes them (docs/PROTOCOL.md, chain record)
  chain_record_too_large,           // value over the BEP 44 size bound
  chain_record_truncated,           // value shorter than the smallest valid record
  chain_record_bad_format,          // first byte is not a format this build reads
  chain_record_seq_out_of_range,    // BEP 44 seq outside the epoch's millisecond range
  chain_record_decryption_failed,   // AEAD open failed: wrong key, network, epoch or slot, or tampered
  chain_record_malformed,           // decrypted contact does not decode (counts, addresses, trailing bytes)
  chain_record_bad_signature,       // contact not signed by the node it names
  chain_record_timestamp_mismatch,  // contact's timestamp is not the BEP 44 seq it was stored with
};

}  // namespace topicswarm

template <>
struct std::is_error_code_enum<topicswarm::errc> : std::true_type {};

namespace topicswarm {

TOPICSWARM_API const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// An error: a code to branch on, and a detail for people.
struct error {
  // For errors about a size over a limit (errc::message_too_large from
  // broadcast()): the size that was refused and the limit, in bytes, so a
  // caller can split or shrink without parsing the message.
  struct size_limit {
    std::size_t size = 0;
    std::size_t limit = 0;
    friend bool operator==(const size_limit&, const size_limit&) = default;
  };

  std::error_code code;
  std::string detail;
  std::optional<size_limit> exceeded;

  error() = default;
  error(errc e, std::string d = {}) : code(make_error_code(e)), detail(std::move(d)) {}
  error(std::error_code c, std::string d = {}) : code(c), detail(std::move(d)) {}
  // `size` bytes exceed `limit`: the detail says so, the fields carry both.
  static error too_large(errc e, std::string_view what, std::size_t size, std::size_t limit) {
    error r(e, std::string(what) + " of " + std::to_string(size) + " bytes exceeds the maximum of " +
                   std::to_string(limit) + " bytes");
    r.exceeded = size_limit{size, limit};
    return r;
  }

  // "<category message>: <detail>" (or just the category message).
  std::string message() const {
    return detail.empty() ? code.message() : code.message() + ": " + detail;
  }
  friend bool operator==(const error& a, errc e) noexcept { return a.code == make_error_code(e); }
};

// Minimal expected<T, error>. C++20 has no std::expected; this is enough for
// parsers and crypto: check with `if (r)`, read with `*r` / `r->`, `r.error()`.
template <class T>
class [[nodiscard]] result {
 public:
  result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
  result(struct error e) : v_(std::in_place_index<1>, std::move(e)) {}
  result(errc e, std::string detail = {})
      : v_(std::in_place_index<1>, topicswarm::error{e, std::move(detail)}) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const struct error& error_value() const { assert(!has_value()); return std::get<1>(v_); }
  const struct error& error() const { return error_value(); }
  std::error_code code() const { return has_value() ? std::error_code{} : error_value().code; }

 private:
  std::variant<T, struct error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(struct error e) : err_(std::move(e)), ok_(false) {}
  result(errc e, std::string detail = {}) : err_{e, std::move(detail)}, ok_(false) {}
  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const struct error& error() const { assert(!ok_); return err_; }
  std::error_code code() const { return ok_ ? std::error_code{} : err_.code; }

 private:
  struct error err_;
  bool ok_ = true;
};

}  // namespace topicswarm
