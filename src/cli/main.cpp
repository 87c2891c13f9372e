#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

int main(int argc, char** argv) {
  brasa::init_logging("info");
  CLI::App app{"brasa: an LLM inference server for Llama and Llama 4 models"};
  app.require_subcommand(1);
  brasa::cli::register_generate(app);
  brasa::cli::register_serve(app);
  brasa::cli::register_make_test_model(app);
  brasa::cli::register_bench(app);
  brasa::cli::register_perplexity(app);
  brasa::cli::register_convert(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const brasa::Error& e) {
    std::fprintf(stderr, "brasa: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "brasa: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
