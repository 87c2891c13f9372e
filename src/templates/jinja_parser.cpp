#include "templates/jinja_parser.h"

#include <initializer_list>

#include "templates/jinja_error.h"
#include "templates/jinja_lexer.h"

namespace brasa::jinja {

namespace {

using T = Token::Type;

// Nesting deeper than this (brackets, unary operators, blocks) is rejected, so a
// hostile template cannot overflow the stack of the recursive-descent parser or
// of the interpreter that walks the tree.
constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  NodeList parse() {
    std::string end_tag;
    NodeList body = subparse({}, end_tag);
    return body;
  }

 private:
  // ---- Token stream ----

  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const {
    size_t i = pos_ + ahead;
    return i < tokens_.size() ? tokens_[i] : tokens_.back();
  }
  const Token& advance() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool is_op(const char* op) const { return current().type == T::Operator && current().value == op; }
  bool is_name(const char* name) const { return current().type == T::Name && current().value == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& token) {
    switch (token.type) {
      case T::End:
        return "end of template";
      case T::BlockEnd:
        return "end of statement block";
      case T::VariableEnd:
        return "end of print statement";
      case T::Text:
        return "template data";
      case T::String:
        return "string";
      case T::Integer:
      case T::Float:
        return "number";
      default:
        return "'" + token.value + "'";
    }
  }

  [[noreturn]] void fail(const std::string& message) const { throw_template_error(current().line, message); }
  [[noreturn]] void fail_unexpected(const std::string& expected) const {
    fail("expected " + expected + ", got " + describe(current()));
  }

  void expect_op(const char* op) {
    if (!skip_op(op)) fail_unexpected(std::string("'") + op + "'");
  }
  void expect_name(const char* name) {
    if (!skip_name(name)) fail_unexpected(std::string("'") + name + "'");
  }
  std::string expect_identifier() {
    if (current().type != T::Name) fail_unexpected("name");
    return advance().value;
  }
  void expect_block_end() {
    if (current().type != T::BlockEnd) fail_unexpected("end of statement block");
    advance();
  }

  // ---- Statements ----

  // Parses nodes until a `{% name %}` tag with a name in `end_tags`; leaves the
  // stream after that name and stores it in `end_tag`.
  NodeList subparse(std::initializer_list<const char*> end_tags, std::string& end_tag) {
    NodeList body;
    while (true) {
      const Token& token = current();
      if (token.type == T::End) {
        if (end_tags.size() == 0) return body;
        std::string names;
        for (const char* name : end_tags) names += (names.empty() ? "'" : " or '") + std::string(name) + "'";
        fail("Unexpected end of template. Jinja was looking for the following tags: " + names + ".");
      }
      if (token.type == T::Text) {
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::Text;
        node->line = token.line;
        node->text = token.value;
        body.push_back(std::move(node));
        advance();
        continue;
      }
      if (token.type == T::VariableBegin) {
        advance();
        auto node = std::make_unique<Node>();
        node->kind = Node::Kind::Output;
        node->line = token.line;
        node->expr = parse_tuple(true, true, {});
        if (current().type != T::VariableEnd) fail_unexpected("end of print statement");
        advance();
        body.push_back(std::move(node));
        continue;
      }
      if (token.type == T::BlockBegin) {
        advance();
        if (current().type != T::Name) fail("tag name expected");
        for (const char* name : end_tags) {
          if (current().value == name) {
            end_tag = advance().value;
            return body;
          }
        }
        body.push_back(parse_statement());
        continue;
      }
      fail("unexpected " + describe(token));
    }
  }

  NodePtr parse_statement() {
    NestingGuard guard(*this);
    const Token& token = current();
    const std::string& tag = token.value;
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "generation") return parse_generation();
    if (tag == "break" || tag == "continue") {
      auto node = std::make_unique<Node>();
      node->kind = tag == "break" ? Node::Kind::Break : Node::Kind::Continue;
      node->line = token.line;
      advance();
      expect_block_end();
      return node;
    }
    static const char* const known_end_tags[] = {"endif", "endfor", "endset", "endmacro", "endcall", "endfilter",
                                                 "endwith", "endgeneration", "else", "elif"};
    for (const char* end : known_end_tags) {
      if (tag == end) fail("Encountered unknown tag '" + tag + "'. Jinja was looking for a matching block tag.");
    }
    fail("Encountered unknown tag '" + tag + "'.");
  }

  NodePtr make_node(Node::Kind kind) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->line = current().line;
    return node;
  }

  NodePtr parse_if() {
    auto node = make_node(Node::Kind::If);
    advance();  // if
    while (true) {
      ExprPtr condition = parse_tuple(false, true, {});
      expect_block_end();
      std::string end_tag;
      NodeList body = subparse({"elif", "else", "endif"}, end_tag);
      node->branches.emplace_back(std::move(condition), std::move(body));
      if (end_tag == "elif") continue;
      if (end_tag == "else") {
        expect_block_end();
        node->else_body = subparse({"endif"}, end_tag);
      }
      expect_block_end();
      return node;
    }
  }

  std::vector<std::string> parse_assign_targets(const char* end_name) {
    std::vector<std::string> targets;
    bool parenthesized = skip_op("(");
    while (true) {
      targets.push_back(expect_identifier());
      if (!skip_op(",")) break;
      if (end_name && is_name(end_name)) break;
      if (is_op("=") || is_op(")")) break;
    }
    if (parenthesized) expect_op(")");
    return targets;
  }

  NodePtr parse_for() {
    auto node = make_node(Node::Kind::For);
    advance();  // for
    node->targets = parse_assign_targets("in");
    expect_name("in");
    node->expr = parse_tuple(false, false, {"recursive", "if"});
    if (skip_name("if")) node->condition = parse_expression(true);
    node->recursive = skip_name("recursive");
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endfor", "else"}, end_tag);
    if (end_tag == "else") {
      expect_block_end();
      node->else_body = subparse({"endfor"}, end_tag);
    }
    expect_block_end();
    return node;
  }

  NodePtr parse_set() {
    auto node = make_node(Node::Kind::Set);
    advance();  // set
    if (current().type == T::Name && peek().type == T::Operator && peek().value == ".") {
      node->targets.push_back(advance().value);
      advance();  // .
      node->attribute = expect_identifier();
    } else {
      node->targets = parse_assign_targets(nullptr);
    }
    if (skip_op("=")) {
      node->expr = parse_tuple(false, true, {});
      expect_block_end();
      return node;
    }
    if (!node->attribute.empty() || node->targets.size() != 1) fail_unexpected("'='");
    node->kind = Node::Kind::SetBlock;
    if (is_op("|")) node->expr = parse_filter_chain(nullptr);
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endset"}, end_tag);
    expect_block_end();
    return node;
  }

  std::vector<Parameter> parse_signature() {
    std::vector<Parameter> parameters;
    expect_op("(");
    while (!is_op(")")) {
      if (!parameters.empty()) expect_op(",");
      Parameter parameter;
      parameter.name = expect_identifier();
      if (skip_op("=")) parameter.default_value = parse_expression(true);
      parameters.push_back(std::move(parameter));
    }
    advance();  // )
    return parameters;
  }

  NodePtr parse_macro() {
    auto node = make_node(Node::Kind::Macro);
    advance();  // macro
    node->text = expect_identifier();
    node->parameters = parse_signature();
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endmacro"}, end_tag);
    if (current().type == T::Name && current().value == node->text) advance();
    expect_block_end();
    return node;
  }

  NodePtr parse_call_block() {
    auto node = make_node(Node::Kind::CallBlock);
    advance();  // call
    if (is_op("(")) node->parameters = parse_signature();
    node->expr = parse_expression(true);
    if (node->expr->kind != Expr::Kind::Call) fail("expected call");
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endcall"}, end_tag);
    expect_block_end();
    return node;
  }

  NodePtr parse_filter_block() {
    auto node = make_node(Node::Kind::FilterBlock);
    advance();  // filter
    node->expr = parse_filter_chain(nullptr, true);
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endfilter"}, end_tag);
    expect_block_end();
    return node;
  }

  NodePtr parse_with() {
    auto node = make_node(Node::Kind::With);
    advance();  // with
    while (current().type != T::BlockEnd) {
      if (!node->targets.empty()) expect_op(",");
      node->targets.push_back(expect_identifier());
      expect_op("=");
      node->values.push_back(parse_expression(true));
    }
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endwith"}, end_tag);
    expect_block_end();
    return node;
  }

  // Hugging Face's `{% generation %}` marks assistant text for training masks; it
  // renders its body unchanged.
  NodePtr parse_generation() {
    auto node = make_node(Node::Kind::With);
    advance();  // generation
    expect_block_end();
    std::string end_tag;
    node->body = subparse({"endgeneration"}, end_tag);
    expect_block_end();
    return node;
  }

  // ---- Expressions ----

  ExprPtr make_expr(Expr::Kind kind, int line) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->line = line;
    return expr;
  }

  bool is_tuple_end(std::initializer_list<const char*> extra_end) const {
    T type = current().type;
    if (type == T::VariableEnd || type == T::BlockEnd || type == T::End) return true;
    if (is_op(")")) return true;
    for (const char* name : extra_end) {
      if (is_name(name)) return true;
    }
    return false;
  }

  // An expression or a comma-separated tuple of them.
  ExprPtr parse_tuple(bool allow_empty, bool with_condition, std::initializer_list<const char*> extra_end,
                      bool explicit_parentheses = false) {
    int line = current().line;
    std::vector<ExprPtr> items;
    bool saw_comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        saw_comma = true;
      }
      if (is_tuple_end(extra_end)) break;
      items.push_back(with_condition ? parse_expression(true) : parse_or());
    }
    if (!saw_comma && items.size() == 1) return std::move(items[0]);
    if (items.empty() && !explicit_parentheses && !allow_empty) fail("Expected an expression, got " + describe(current()));
    auto tuple = make_expr(Expr::Kind::Tuple, line);
    tuple->items = std::move(items);
    return tuple;
  }

  ExprPtr parse_expression(bool with_condition) {
    return with_condition ? parse_condition() : parse_or();
  }

  ExprPtr parse_condition() {
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      int line = advance().line;
      auto condition = make_expr(Expr::Kind::Condition, line);
      condition->then_expr = std::move(expr);
      condition->test = parse_or();
      if (skip_name("else")) condition->else_expr = parse_condition();
      expr = std::move(condition);
    }
    return expr;
  }

  ExprPtr make_binary(const std::string& op, ExprPtr left, ExprPtr right, int line) {
    auto expr = make_expr(Expr::Kind::Binary, line);
    expr->name = op;
    expr->left = std::move(left);
    expr->right = std::move(right);
    return expr;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      int line = advance().line;
      left = make_binary("or", std::move(left), parse_and(), line);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      int line = advance().line;
      left = make_binary("and", std::move(left), parse_not(), line);
    }
    return left;
  }

  ExprPtr parse_not() {
    NestingGuard guard(*this);
    if (is_name("not")) {
      int line = advance().line;
      auto expr = make_expr(Expr::Kind::Unary, line);
      expr->name = "not";
      expr->object = parse_not();
      return expr;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = current().line;
    ExprPtr first = parse_math1();
    std::vector<std::pair<std::string, ExprPtr>> comparisons;
    while (true) {
      static const char* const operators[] = {"==", "!=", "<", "<=", ">", ">="};
      std::string op;
      if (current().type == T::Operator) {
        for (const char* candidate : operators) {
          if (current().value == candidate) op = candidate;
        }
      }
      if (!op.empty()) {
        advance();
      } else if (is_name("in")) {
        advance();
        op = "in";
      } else if (is_name("not") && peek().type == T::Name && peek().value == "in") {
        advance();
        advance();
        op = "not in";
      } else {
        break;
      }
      comparisons.emplace_back(op, parse_math1());
    }
    if (comparisons.empty()) return first;
    auto expr = make_expr(Expr::Kind::Compare, line);
    expr->object = std::move(first);
    expr->comparisons = std::move(comparisons);
    return expr;
  }

  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& op = advance();
      left = make_binary(op.value, std::move(left), parse_concat(), op.line);
    }
    return left;
  }

  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      int line = advance().line;
      left = make_binary("~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& op = advance();
      left = make_binary(op.value, std::move(left), parse_pow(), op.line);
    }
    return left;
  }

  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      int line = advance().line;
      left = make_binary("**", std::move(left), parse_unary(true), line);
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    NestingGuard guard(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& op = advance();
      node = make_expr(Expr::Kind::Unary, op.line);
      node->name = op.value;
      node->object = parse_unary(false);
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    int line = token.line;
    switch (token.type) {
      case T::Name: {
        advance();
        const std::string& name = token.value;
        if (name == "true" || name == "True") return literal(Value(true), line);
        if (name == "false" || name == "False") return literal(Value(false), line);
        if (name == "none" || name == "None") return literal(Value::none(), line);
        auto expr = make_expr(Expr::Kind::Name, line);
        expr->name = name;
        return expr;
      }
      case T::String: {
        std::string text;
        while (current().type == T::String) text += advance().value;
        return literal(Value(std::move(text)), line);
      }
      case T::Integer: {
        advance();
        try {
          return literal(Value(static_cast<int64_t>(std::stoll(token.value))), line);
        } catch (const std::out_of_range&) {
          throw_template_error(line, "integer literal " + token.value + " is too large");
        }
      }
      case T::Float:
        advance();
        return literal(Value(std::stod(token.value)), line);
      case T::Operator:
        if (token.value == "(") {
          advance();
          ExprPtr expr = parse_tuple(true, true, {}, true);
          expect_op(")");
          return expr;
        }
        if (token.value == "[") return parse_list();
        if (token.value == "{") return parse_dict();
        break;
      default:
        break;
    }
    fail("unexpected " + describe(token));
  }

  ExprPtr literal(Value value, int line) {
    auto expr = make_expr(Expr::Kind::Literal, line);
    expr->value = std::move(value);
    return expr;
  }

  ExprPtr parse_list() {
    auto expr = make_expr(Expr::Kind::List, advance().line);
    while (!is_op("]")) {
      if (!expr->items.empty()) expect_op(",");
      if (is_op("]")) break;
      expr->items.push_back(parse_expression(true));
    }
    advance();  // ]
    return expr;
  }

  ExprPtr parse_dict() {
    auto expr = make_expr(Expr::Kind::Dict, advance().line);
    while (!is_op("}")) {
      if (!expr->items.empty()) expect_op(",");
      if (is_op("}")) break;
      expr->items.push_back(parse_expression(true));
      expect_op(":");
      expr->items.push_back(parse_expression(true));
    }
    advance();  // }
    return expr;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    while (true) {
      if (is_op(".") || is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr node) {
    const Token& token = advance();
    if (token.value == ".") {
      const Token& attribute = current();
      if (attribute.type == T::Name) {
        auto expr = make_expr(Expr::Kind::GetAttr, token.line);
        expr->object = std::move(node);
        expr->name = advance().value;
        return expr;
      }
      if (attribute.type == T::Integer) {
        auto expr = make_expr(Expr::Kind::GetItem, token.line);
        expr->object = std::move(node);
        expr->index = literal(Value(static_cast<int64_t>(std::stoll(advance().value))), token.line);
        return expr;
      }
      fail_unexpected("name or number");
    }

    // [index], [start:stop:step] or [a, b] (a tuple index).
    std::vector<ExprPtr> indices;
    while (!is_op("]")) {
      if (!indices.empty()) {
        expect_op(",");
        if (is_op("]")) break;
      }
      indices.push_back(parse_subscribed(node.get() ? token.line : 0));
    }
    expect_op("]");
    if (indices.empty()) fail("expected subscript expression");
    ExprPtr index;
    if (indices.size() == 1) {
      index = std::move(indices[0]);
    } else {
      index = make_expr(Expr::Kind::Tuple, token.line);
      index->items = std::move(indices);
    }
    if (index->kind == Expr::Kind::Slice) {
      index->object = std::move(node);
      return index;
    }
    auto expr = make_expr(Expr::Kind::GetItem, token.line);
    expr->object = std::move(node);
    expr->index = std::move(index);
    return expr;
  }

  ExprPtr parse_subscribed(int line) {
    ExprPtr start;
    if (!is_op(":")) {
      ExprPtr expr = parse_expression(true);
      if (!is_op(":")) return expr;
      start = std::move(expr);
    }
    advance();  // :
    auto slice = make_expr(Expr::Kind::Slice, line);
    slice->start = std::move(start);
    if (!is_op("]") && !is_op(",") && !is_op(":")) slice->stop = parse_expression(true);
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) slice->step = parse_expression(true);
    }
    return slice;
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (skip_op("*")) {
        call.dynamic_args = parse_expression(true);
      } else if (skip_op("**")) {
        call.dynamic_keywords = parse_expression(true);
      } else if (current().type == T::Name && peek().type == T::Operator && peek().value == "=") {
        std::string name = advance().value;
        advance();  // =
        call.keywords.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!call.keywords.empty() || call.dynamic_args || call.dynamic_keywords) fail("Invalid argument syntax");
        call.items.push_back(parse_expression(true));
      }
    }
    advance();  // )
  }

  ExprPtr parse_call(ExprPtr node) {
    auto expr = make_expr(Expr::Kind::Call, current().line);
    expr->object = std::move(node);
    parse_call_args(*expr);
    return expr;
  }

  // `| name(args) | name ...`; with `start_inline` the first `|` is absent ({% filter name %}).
  ExprPtr parse_filter_chain(ExprPtr node, bool start_inline = false) {
    while (is_op("|") || start_inline) {
      if (!start_inline) advance();
      start_inline = false;
      auto filter = make_expr(Expr::Kind::Filter, current().line);
      filter->name = expect_identifier();
      while (is_op(".")) {
        advance();
        filter->name += "." + expect_identifier();
      }
      if (is_op("(")) parse_call_args(*filter);
      filter->object = std::move(node);
      node = std::move(filter);
    }
    return node;
  }

  ExprPtr parse_test(ExprPtr node) {
    int line = advance().line;  // is
    auto test = make_expr(Expr::Kind::Test, line);
    test->negated = skip_name("not");
    test->name = expect_identifier();
    while (is_op(".")) {
      advance();
      test->name += "." + expect_identifier();
    }
    if (is_op("(")) {
      parse_call_args(*test);
    } else {
      T type = current().type;
      bool starts_value = type == T::Name || type == T::String || type == T::Integer || type == T::Float ||
                          is_op("(") || is_op("[") || is_op("{");
      if (starts_value && !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail("You cannot chain multiple tests with is");
        test->items.push_back(parse_postfix(parse_primary()));
      }
    }
    test->object = std::move(node);
    return test;
  }

  // Counts one level of nesting while alive.
  struct NestingGuard {
    Parser& parser;
    explicit NestingGuard(Parser& p) : parser(p) {
      if (++parser.nesting_ > kMaxNesting) {
        parser.fail("template nesting exceeds the limit of " + std::to_string(kMaxNesting) + " levels");
      }
    }
    ~NestingGuard() { --parser.nesting_; }
  };

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

}  // namespace

NodeList parse_template(const std::string& source) { return Parser(tokenize(source)).parse(); }

}  // namespace brasa::jinja
