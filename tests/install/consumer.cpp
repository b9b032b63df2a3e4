// Uses the installed library's public API only: ids, identity, records.
#include <topicswarm/identity.hpp>
#include <topicswarm/record.hpp>

#include <cstdio>

int main() {
  using namespace topicswarm;
  auto topic = topic_id_from_name("consumer");
  record_codec codec(topic, secret_hash_from(std::string_view("s")));
  auto me = identity::generate();
  topic_record r;
  r.topic = topic;
  r.window = 42;
  r.publisher = me.id();
  auto sealed = codec.seal(r, me);
  if (!sealed) return 1;
  auto opened = codec.open(*sealed, 42);
  if (!opened || opened->publisher != me.id()) return 1;
  std::printf("consumer: sealed and opened a %zu-byte record for %s\n", sealed->size(), me.id().short_string().c_str());
  return 0;
}
