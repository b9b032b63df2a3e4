// Bounded big-endian byte writer and reader for wire and record formats.
//
// The reader never reads past its input: every get_* checks the remaining
// length and latches a failure flag instead of throwing, so decoders of
// untrusted bytes can read a whole structure and check `ok()` once.
#pragma once

#include <topicswarm/bytes.hpp>

#include <cstdint>
#include <cstring>

namespace topicswarm::core {

class byte_writer {
 public:
  explicit byte_writer(bytes& out) : out_(out) {}

  void put_u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void put_u16(std::uint16_t v) { put_be(v, 2); }
  void put_u32(std::uint32_t v) { put_be(v, 4); }
  void put_u64(std::uint64_t v) { put_be(v, 8); }
  void put(byte_span b) { out_.insert(out_.end(), b.begin(), b.end()); }
  std::size_t size() const noexcept { return out_.size(); }

 private:
  void put_be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  }
  bytes& out_;
};

class byte_reader {
 public:
  explicit byte_reader(byte_span in) noexcept : in_(in) {}

  std::uint8_t get_u8() noexcept { return static_cast<std::uint8_t>(get_be(1)); }
  std::uint16_t get_u16() noexcept { return static_cast<std::uint16_t>(get_be(2)); }
  std::uint32_t get_u32() noexcept { return static_cast<std::uint32_t>(get_be(4)); }
  std::uint64_t get_u64() noexcept { return get_be(8); }
  // Copies out.size() bytes; on underflow fills zeros and latches failure.
  void get(std::span<std::byte> out) noexcept {
    if (!take(out.size())) {
      std::memset(out.data(), 0, out.size());
      return;
    }
    std::memcpy(out.data(), in_.data() + pos_ - out.size(), out.size());
  }
  // A view of the next n bytes (empty on underflow).
  byte_span get_span(std::size_t n) noexcept {
    if (!take(n)) return {};
    return in_.subspan(pos_ - n, n);
  }

  bool ok() const noexcept { return ok_; }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  bool at_end() const noexcept { return ok_ && pos_ == in_.size(); }

 private:
  bool take(std::size_t n) noexcept {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::uint64_t get_be(int n) noexcept {
    if (!take(static_cast<std::size_t>(n))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(in_[pos_ - n + i]);
    return v;
  }

  byte_span in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace topicswarm::core
