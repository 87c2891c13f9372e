#include "cli/commands.h"

namespace brasa::cli {

// TODO: placeholder until the command is written.
void register_make_test_model(CLI::App& app) {
  app.add_subcommand("make-test-model", "(not yet available)")->callback([] { throw CLI::RuntimeError("make-test-model: not implemented yet", 2); });
}

}  // namespace brasa::cli
