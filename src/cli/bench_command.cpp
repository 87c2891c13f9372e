#include "cli/commands.h"

namespace brasa::cli {

// TODO: placeholder until the command is written.
void register_bench(CLI::App& app) {
  app.add_subcommand("bench", "(not yet available)")->callback([] { throw CLI::RuntimeError("bench: not implemented yet", 2); });
}

}  // namespace brasa::cli
