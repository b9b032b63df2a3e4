#include "crypto/sodium.hpp"

#include <cstdio>
#include <cstdlib>

namespace topicswarm::crypto {

void ensure_sodium() {
  static const bool ok = [] { return ::sodium_init() >= 0; }();
  if (!ok) {
    std::fputs("topicswarm: libsodium failed to initialise\n", stderr);
    std::abort();
  }
}

}  // namespace topicswarm::crypto
