#pragma once

// Splits a Jinja template into tokens the way jinja2 3.1's lexer does with the
// settings Hugging Face uses (trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False): text between tags, `{{ }}` and `{% %}` with their
// expression tokens, comments dropped, `{% raw %}` copied as text, and the
// whitespace control marks `-` and `+` applied to the neighbouring text.

#include <string>
#include <vector>

namespace brasa::jinja {

struct Token {
  enum class Type {
    Text,           // literal output
    VariableBegin,  // {{
    VariableEnd,    // }}
    BlockBegin,     // {%
    BlockEnd,       // %}
    Name,
    String,         // value contains the decoded text
    Integer,
    Float,
    Operator,       // value contains the operator text: "+", "//", "(", ...
    End,
  };

  Type type = Type::End;
  std::string value;
  int line = 1;
};

// Throws TemplateError ("line N: ...") on an unterminated tag, comment or string.
std::vector<Token> tokenize(const std::string& source);

}  // namespace brasa::jinja
