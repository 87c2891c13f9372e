#include "cli/commands.h"

namespace brasa::cli {

// TODO: placeholder until the command is written.
void register_generate(CLI::App& app) {
  app.add_subcommand("generate", "(not yet available)")->callback([] { throw CLI::RuntimeError("generate: not implemented yet", 2); });
}

}  // namespace brasa::cli
