#include "core/error.h"
#include "tokenizer/loaders.h"

namespace brasa {

std::unique_ptr<BpeTokenizer> load_gguf_tokenizer(const std::string& path) {
  // TODO: GGUF vocabularies are not loaded yet.
  throw Error(path + ": GGUF tokenizers are not supported yet");
}

}  // namespace brasa
