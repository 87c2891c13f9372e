// `brasa convert`: re-encodes a checkpoint as Q8_0, Q4_0, BF16, F16, F32 or
// FP8, written as GGUF (llama.cpp's names) or as a Hugging Face safetensors directory.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/convert.h"
#include "core/error.h"

namespace brasa::cli {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string output_format(const ConvertOptions& options) {
  if (options.format.empty()) return ends_with(options.out, ".gguf") ? "gguf" : "safetensors";
  if (options.format != "gguf" && options.format != "safetensors") {
    throw Error("invalid --format '" + options.format + "': expected gguf or safetensors");
  }
  return options.format;
}

// Checks the options before any tensor is read, so a bad combination fails at once.
void check_options(const ConvertOptions& options, const std::string& format, DType target) {
  if (format == "gguf" && target == DType::F8_E4M3) {
    throw Error("GGUF has no FP8 type; write FP8 with --format safetensors, or pick q8_0, q4_0, bf16, f16 or f32");
  }
  if (format == "safetensors" && dtype_is_block_quantized(target)) {
    throw Error(std::string("safetensors cannot store ") + dtype_name(target) +
                "; write it with --format gguf (an --out ending in .gguf), or pick bf16, f16, f32 or fp8");
  }
  std::error_code error;
  if (!fs::exists(options.model, error)) {
    throw Error(options.model + ": model not found (expected a Hugging Face checkpoint directory or a .gguf file)");
  }
  if (fs::exists(options.out, error)) {
    throw Error(options.out + ": output already exists; remove it or choose another --out");
  }
}

// Drops trailing separators, so that "out/" stages in "out.tmp-PID" beside
// the target and not inside it, where the final rename would fail and leave an
// empty "out/" behind.
std::string without_trailing_separators(const std::string& path) {
  fs::path p(path);
  while (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p.string();
}

void run_convert(const ConvertOptions& requested) {
  ConvertOptions options = requested;
  options.out = without_trailing_separators(requested.out);
  const DType target = parse_target_dtype(options.dtype);
  const std::string format = output_format(options);
  check_options(options, format, target);
  const auto start = std::chrono::steady_clock::now();

  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(options.model);
  const ModelConfig config = checkpoint->format() == Checkpoint::Format::Gguf
                                 ? parse_gguf_config(*checkpoint->gguf())
                                 : parse_hf_config(checkpoint->config(), (fs::path(options.model) / "config.json").string());
  spdlog::info("converting {} ({}, {} layers) to {} {}", options.model, config.architecture, config.n_layers, format,
               dtype_name(target));

  // Written beside the target and renamed at the end, so a failed or
  // interrupted run never leaves a partial file under the requested name.
  const std::string staging = options.out + ".tmp-" + std::to_string(::getpid());
  std::error_code error;
  try {
    if (format == "gguf") {
      write_gguf_model(*checkpoint, config, options.model, target, staging);
    } else {
      fs::create_directories(staging, error);
      if (error) throw Error("cannot create directory " + staging + ": " + error.message());
      write_safetensors_model_dir(*checkpoint, config, options.model, target, staging);
    }
    fs::rename(staging, options.out, error);
    if (error) throw Error("cannot move " + staging + " to " + options.out + ": " + error.message());
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s (%s, %s) in %.1f s\n", options.out.c_str(), format.c_str(), options.dtype.c_str(), seconds);
}

}  // namespace

void register_convert(CLI::App& app) {
  auto options = std::make_shared<ConvertOptions>();
  CLI::App* command = app.add_subcommand(
      "convert", "Re-encode a checkpoint (Hugging Face directory or .gguf) as GGUF or Hugging Face safetensors");
  command->add_option("--model", options->model, "Input: a Hugging Face checkpoint directory or a .gguf file")
      ->required();
  command->add_option("--out", options->out, "Output .gguf file or safetensors directory; must not exist")->required();
  command->add_option("--dtype", options->dtype,
                      "Weight type: q8_0, q4_0, bf16, f16 or f32 (GGUF), bf16, f16, f32 or fp8 (safetensors)")
      ->required();
  command->add_option("--format", options->format,
                      "Output format: gguf or safetensors (default: gguf when --out ends in .gguf, else safetensors)");
  command->callback([options] { run_convert(*options); });
}

}  // namespace brasa::cli
