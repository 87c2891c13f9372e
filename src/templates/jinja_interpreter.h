#pragma once

// A compiled Jinja template and the interpreter that renders it. The behaviour
// targets jinja2 3.1 as Hugging Face transformers configures it for chat
// templates: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
// with the loopcontrols extension, a tojson filter that calls json.dumps with
// ensure_ascii=False, and the globals raise_exception and strftime_now.

#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "templates/jinja_ast.h"
#include "templates/jinja_value.h"

namespace brasa::jinja {

// Limits that stop a runaway template with a TemplateError instead of exhausting
// memory or time.
struct RenderLimits {
  size_t max_output_bytes = 64u << 20;     // rendered text, including macro and block-set output
  size_t max_loop_iterations = 1u << 20;   // all loop iterations of one render together
  size_t max_call_depth = 256;             // nested macro calls and recursive loops
};

struct RenderOptions {
  RenderLimits limits;
  // The time strftime_now() formats; unset means the current local time.
  std::optional<std::time_t> now;
};

class Template {
 public:
  // Parses `source`; throws TemplateError on a syntax error.
  explicit Template(const std::string& source);
  ~Template();

  // Renders with `variables` (a dict Value) as the template context; throws TemplateError.
  std::string render(const Value& variables, const RenderOptions& options = {}) const;

  // Whether the template reads the variable `name` anywhere.
  bool uses_variable(const std::string& name) const;

 private:
  NodeList nodes_;
};

}  // namespace brasa::jinja
