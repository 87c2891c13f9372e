#include <filesystem>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "formats/checkpoint.h"
#include "models/llama_model.h"
#include "models/model.h"

namespace brasa {

std::unique_ptr<Model> load_model(const std::string& path, Backend& backend, const LoadOptions& options) {
  std::unique_ptr<Checkpoint> checkpoint = Checkpoint::open(path, options.weights);
  const FileResidency residency = checkpoint->residency();

  ModelConfig config;
  if (checkpoint->format() == Checkpoint::Format::Gguf) {
    config = parse_gguf_config(*checkpoint->gguf());
  } else {
    config = parse_hf_config(checkpoint->config(), (std::filesystem::path(path) / "config.json").string());
  }

  std::string name = std::filesystem::path(path).filename().string();
  if (name.empty()) name = std::filesystem::path(path).parent_path().filename().string();
  auto model = std::make_unique<LlamaModel>(std::move(checkpoint), config, backend, name);

  const ModelInfo& info = model->info();
  spdlog::info("loaded {} ({}): {} layers, {} global and {} local KV layers, {:.2f} M params ({:.2f} M active), "
               "weights {}",
               path, info.architecture, config.n_layers, info.kv.n_global_layers, info.kv.n_local_layers,
               double(info.n_params) / 1e6, double(info.n_active_params) / 1e6,
               residency == FileResidency::kResident ? "read into memory" : "mapped in place");
  return model;
}

}  // namespace brasa
