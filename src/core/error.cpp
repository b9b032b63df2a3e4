#include <topicswarm/error.hpp>

namespace topicswarm {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "topicswarm"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_id: return "invalid id";
      case errc::invalid_endpoint: return "invalid endpoint";
      case errc::invalid_argument: return "invalid argument";
      case errc::identity_io: return "identity file could not be read or written";
      case errc::identity_malformed: return "identity file is malformed";
      case errc::identity_insecure_permissions: return "identity file is readable by others";
      case errc::crypto_failure: return "cryptographic operation failed";
      case errc::record_bad_length: return "record has a bad length";
      case errc::record_decryption_failed: return "record decryption failed";
      case errc::record_bad_signature: return "record signature is invalid";
      case errc::record_wrong_topic: return "record is for another topic";
      case errc::record_wrong_window: return "record is for another time window";
      case errc::record_unsupported_version: return "record format version is not supported";
      case errc::record_format_obsolete:
        return "record is in format 1, which is no longer read (its slots were writable by anyone who knew the name)";
      case errc::record_seq_out_of_range: return "record's BEP 44 seq lies outside its window's millisecond range";
      case errc::not_admitted: return "peer did not prove it holds the topic's key";
      case errc::secret_hash_failed: return "the secret could not be hashed (Argon2id)";
      case errc::peer_entry_too_large: return "peer entry too large";
      case errc::peer_entry_malformed: return "malformed peer entry";
      case errc::peer_entry_bad_signature: return "peer entry not signed by its node";
      case errc::peer_entry_unsupported_version: return "peer entry of an unsupported format";
      case errc::chain_record_too_large: return "chain record is too large";
      case errc::chain_record_truncated: return "chain record is shorter than the smallest valid record";
      case errc::chain_record_bad_format: return "chain record format is not supported";
      case errc::chain_record_seq_out_of_range:
        return "chain record's BEP 44 seq lies outside its epoch's millisecond range";
      case errc::chain_record_decryption_failed:
        return "chain record decryption failed (wrong network key, epoch or slot, or a corrupted value)";
      case errc::chain_record_malformed: return "chain record's contact is malformed";
      case errc::chain_record_bad_signature: return "chain record's contact is not signed by its node";
      case errc::chain_record_timestamp_mismatch: return "chain record's timestamp is not its BEP 44 seq";
      case errc::record_too_large: return "record is too large";
      case errc::dht_start_failed: return "DHT session could not start";
      case errc::dht_timeout: return "DHT operation timed out";
      case errc::dht_put_failed: return "DHT put reached no node";
      case errc::dht_stopped: return "DHT client is stopped";
      case errc::testnet_not_ready: return "DHT testnet did not become ready";
      case errc::malformed_message: return "message is malformed";
      case errc::message_too_large: return "gossip message exceeds a size limit";
      case errc::handshake_failed: return "TLS handshake failed";
      case errc::peer_identity_mismatch: return "peer's key is not the node id that was dialled";
      case errc::dial_failed: return "could not connect to the peer";
      case errc::bind_failed: return "cannot listen on the address";
      case errc::connection_closed: return "connection closed";
      case errc::node_stopped: return "node stopped";
      case errc::topic_closed: return "topic closed";
      case errc::timeout: return "operation timed out";
      case errc::operation_aborted: return "operation cancelled";
    }
    return "unknown topicswarm error " + std::to_string(ev);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category c;
  return c;
}

}  // namespace topicswarm
