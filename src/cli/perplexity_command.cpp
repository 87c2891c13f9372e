#include "cli/commands.h"

namespace brasa::cli {

// TODO: placeholder until the command is written.
void register_perplexity(CLI::App& app) {
  app.add_subcommand("perplexity", "(not yet available)")->callback([] { throw CLI::RuntimeError("perplexity: not implemented yet", 2); });
}

}  // namespace brasa::cli
