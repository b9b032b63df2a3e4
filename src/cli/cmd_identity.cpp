// `topicswarm id new|show`: create and inspect identity files.
#include "cli/commands.hpp"

#include <topicswarm/identity.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

namespace topicswarm::cli {

void register_identity_commands(CLI::App& app) {
  auto* id = app.add_subcommand("id", "Create or show a node identity (an Ed25519 key; the node id is its public key)");
  id->require_subcommand(1);

  auto* make = id->add_subcommand("new", "Generate an identity and save it to FILE (mode 0600)");
  static std::string new_path;
  static bool force = false;
  make->add_option("FILE", new_path, "Where to save the identity")->required();
  make->add_flag("--force", force, "Replace an existing file");
  make->callback([] {
    if (std::filesystem::exists(new_path) && !force) {
      std::fprintf(stderr, "topicswarm: %s exists; pass --force to replace it\n", new_path.c_str());
      throw CLI::RuntimeError(1);
    }
    auto ident = identity::generate();
    if (auto r = ident.save(new_path); !r) {
      std::fprintf(stderr, "topicswarm: %s\n", r.error().message().c_str());
      throw CLI::RuntimeError(1);
    }
    std::printf("%s\n", ident.id().to_string().c_str());
  });

  auto* show = id->add_subcommand("show", "Print the node id of an identity file");
  static std::string show_path;
  show->add_option("FILE", show_path, "Identity file")->required();
  show->callback([] {
    auto ident = identity::load(show_path);
    if (!ident) {
      std::fprintf(stderr, "topicswarm: %s\n", ident.error().message().c_str());
      throw CLI::RuntimeError(1);
    }
    std::printf("%s\n", ident->id().to_string().c_str());
  });
}

}  // namespace topicswarm::cli
