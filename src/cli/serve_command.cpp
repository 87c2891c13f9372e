#include "cli/commands.h"

namespace brasa::cli {

// TODO: placeholder until the command is written.
void register_serve(CLI::App& app) {
  app.add_subcommand("serve", "(not yet available)")->callback([] { throw CLI::RuntimeError("serve: not implemented yet", 2); });
}

}  // namespace brasa::cli
