#pragma once

#include <CLI/CLI.hpp>

namespace brasa::cli {

// Each subcommand registers its options and callback on the app. A callback
// returns through CLI::RuntimeError(code) on failure, after printing the reason.
void register_generate(CLI::App& app);
void register_serve(CLI::App& app);
void register_make_test_model(CLI::App& app);
void register_bench(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_convert(CLI::App& app);

}  // namespace brasa::cli
