#include "templates/jinja_interpreter.h"

#include <unordered_map>
#include <unordered_set>

#include "templates/jinja_builtins.h"
#include "templates/jinja_error.h"
#include "templates/jinja_globals.h"
#include "templates/jinja_parser.h"

namespace brasa::jinja {

namespace {

// Variables of one frame: the template's top level, one loop iteration, a macro call
// or a {% with %} block. A lookup walks outwards through the parents.
struct Scope : std::enable_shared_from_this<Scope> {
  std::unordered_map<std::string, Value> variables;
  std::shared_ptr<Scope> parent;

  const Value* find(const std::string& name) const {
    for (const Scope* scope = this; scope; scope = scope->parent.get()) {
      auto it = scope->variables.find(name);
      if (it != scope->variables.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child_scope(const ScopePtr& parent) {
  auto scope = std::make_shared<Scope>();
  scope->parent = parent;
  return scope;
}

enum class Flow { Normal, Break, Continue };

class Renderer {
 public:
  explicit Renderer(const RenderOptions& options) : options_(options) {}

  // Macros stored in a scope refer back to it, and a namespace can contain itself.
  // Both would be reference cycles, so closures hold plain Scope pointers into
  // retained_scopes_, and the namespaces are emptied when the render ends.
  ~Renderer() {
    for (Value& ns : namespaces_) ns.as_dict().clear();
  }

  std::string render(const NodeList& nodes, const Value& variables) {
    auto globals = std::make_shared<Scope>();
    for (auto& [name, value] : make_globals(options_.now, &namespaces_)) globals->variables[name] = value;
    if (variables.is_dict()) {
      for (const auto& [key, value] : variables.as_dict().entries()) globals->variables[key.str()] = value;
    }
    ScopePtr top = child_scope(globals);
    std::string out;
    if (render_nodes(nodes, top, out) != Flow::Normal) throw TemplateError("template: 'break' or 'continue' outside of a loop");
    return out;
  }

 private:
  // ---- Statements ----

  Flow render_nodes(const NodeList& nodes, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& node : nodes) {
      Flow flow = render_node(*node, scope, out);
      if (flow != Flow::Normal) return flow;
    }
    return Flow::Normal;
  }

  void append(std::string& out, const std::string& text, int line) {
    output_bytes_ += text.size();
    if (output_bytes_ > options_.limits.max_output_bytes) {
      throw_template_error(line, "rendered output exceeds the limit of " +
                                     std::to_string(options_.limits.max_output_bytes) + " bytes");
    }
    out += text;
  }

  Flow render_node(const Node& node, const ScopePtr& scope, std::string& out) {
    switch (node.kind) {
      case Node::Kind::Text:
        append(out, node.text, node.line);
        return Flow::Normal;
      case Node::Kind::Output:
        append(out, eval(*node.expr, scope).str(), node.line);
        return Flow::Normal;
      case Node::Kind::If:
        for (const auto& [condition, body] : node.branches) {
          if (eval(*condition, scope).truthy()) return render_nodes(body, scope, out);
        }
        return render_nodes(node.else_body, scope, out);
      case Node::Kind::For:
        render_for(node, scope, out);
        return Flow::Normal;
      case Node::Kind::Set:
        render_set(node, scope);
        return Flow::Normal;
      case Node::Kind::SetBlock: {
        std::string text;
        render_nodes(node.body, scope, text);
        Value value(std::move(text));
        if (node.expr) value = eval_with_block_input(*node.expr, scope, value);
        scope->variables[node.targets[0]] = value;
        return Flow::Normal;
      }
      case Node::Kind::Macro:
        scope->variables[node.text] = make_macro(node.text, node.parameters, node.body, scope, node.line);
        return Flow::Normal;
      case Node::Kind::CallBlock: {
        Value caller = make_macro("caller", node.parameters, node.body, scope, node.line);
        append(out, eval_call(*node.expr, scope, &caller).str(), node.line);
        return Flow::Normal;
      }
      case Node::Kind::FilterBlock: {
        std::string text;
        render_nodes(node.body, scope, text);
        append(out, eval_with_block_input(*node.expr, scope, Value(std::move(text))).str(), node.line);
        return Flow::Normal;
      }
      case Node::Kind::With: {
        ScopePtr inner = child_scope(scope);
        for (size_t i = 0; i < node.targets.size(); ++i) inner->variables[node.targets[i]] = eval(*node.values[i], scope);
        return render_nodes(node.body, inner, out);
      }
      case Node::Kind::Break:
        return Flow::Break;
      case Node::Kind::Continue:
        return Flow::Continue;
    }
    return Flow::Normal;
  }

  void assign_targets(const std::vector<std::string>& targets, const Value& value, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope.variables[targets[0]] = value;
      return;
    }
    ValueList items;
    try {
      items = iterate(value);
    } catch (const EvalError& error) {
      throw_template_error(line, error.what());
    }
    if (items.size() != targets.size()) {
      throw_template_error(line, items.size() > targets.size()
                                     ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
                                     : "not enough values to unpack (expected " + std::to_string(targets.size()) +
                                           ", got " + std::to_string(items.size()) + ")");
    }
    for (size_t i = 0; i < targets.size(); ++i) scope.variables[targets[i]] = items[i];
  }

  void render_set(const Node& node, const ScopePtr& scope) {
    Value value = eval(*node.expr, scope);
    if (node.attribute.empty()) {
      assign_targets(node.targets, value, *scope, node.line);
      return;
    }
    const Value* target = scope->find(node.targets[0]);
    if (!target || !target->is_namespace()) throw_template_error(node.line, "cannot assign attribute on non-namespace object");
    target->as_dict().set(Value(node.attribute), value);
  }

  void count_iteration(int line) {
    if (++iterations_ > options_.limits.max_loop_iterations) {
      throw_template_error(line, "loop iterations exceed the limit of " +
                                     std::to_string(options_.limits.max_loop_iterations));
    }
  }

  struct DepthGuard {
    Renderer& renderer;
    DepthGuard(Renderer& r, int line) : renderer(r) {
      if (++renderer.depth_ > renderer.options_.limits.max_call_depth) {
        --renderer.depth_;
        throw_template_error(line, "macro calls or recursive loops nest deeper than the limit of " +
                                       std::to_string(renderer.options_.limits.max_call_depth));
      }
    }
    ~DepthGuard() { --renderer.depth_; }
  };

  void render_for(const Node& node, const ScopePtr& scope, std::string& out) {
    Value iterable = eval(*node.expr, scope);
    render_loop(node, scope, iterable, 1, out);
  }

  void render_loop(const Node& node, const ScopePtr& scope, const Value& iterable, int depth, std::string& out) {
    ValueList all_items;
    try {
      all_items = iterate(iterable);
    } catch (const EvalError& error) {
      throw_template_error(node.line, error.what());
    }

    // `for x in items if condition` filters before the loop variables are computed,
    // so loop.length and loop.last count the kept items only.
    ValueList items;
    if (node.condition) {
      for (const Value& item : all_items) {
        count_iteration(node.line);
        ScopePtr probe = child_scope(scope);
        assign_targets(node.targets, item, *probe, node.line);
        if (eval(*node.condition, probe).truthy()) items.push_back(item);
      }
    } else {
      items = std::move(all_items);
    }

    if (items.empty()) {
      Flow flow = render_nodes(node.else_body, scope, out);
      (void)flow;
      return;
    }

    const int64_t length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      count_iteration(node.line);
      ScopePtr inner = child_scope(scope);
      assign_targets(node.targets, items[static_cast<size_t>(i)], *inner, node.line);
      inner->variables["loop"] = make_loop_object(node, scope, items, i, depth);
      Flow flow = render_nodes(node.body, inner, out);
      if (flow == Flow::Break) break;
    }
  }

  Value make_loop_object(const Node& node, const ScopePtr& scope, const ValueList& items, int64_t i, int depth) {
    const int64_t length = static_cast<int64_t>(items.size());
    Value loop = Value::dict();
    ValueDict& fields = loop.as_dict();
    fields.set(Value("index"), Value(i + 1));
    fields.set(Value("index0"), Value(i));
    fields.set(Value("revindex"), Value(length - i));
    fields.set(Value("revindex0"), Value(length - i - 1));
    fields.set(Value("first"), Value(i == 0));
    fields.set(Value("last"), Value(i == length - 1));
    fields.set(Value("length"), Value(length));
    fields.set(Value("depth"), Value(static_cast<int64_t>(depth)));
    fields.set(Value("depth0"), Value(static_cast<int64_t>(depth - 1)));
    fields.set(Value("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    fields.set(Value("nextitem"), i + 1 < length ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    fields.set(Value("cycle"), Value::function("loop.cycle", [i](const CallArgs& args) {
      if (args.positional.empty()) throw EvalError("no items for cycling given");
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    }));
    if (node.recursive) {
      retain(scope);
      Scope* loop_scope = scope.get();
      fields.set(Value("__call__"), Value::function("loop", [this, &node, loop_scope, depth](const CallArgs& args) {
        if (args.positional.size() != 1) throw EvalError("loop() takes exactly one argument");
        DepthGuard guard(*this, node.line);
        std::string text;
        render_loop(node, loop_scope->shared_from_this(), args.positional[0], depth + 1, text);
        return Value(std::move(text));
      }));
    }
    return loop;
  }

  Value make_macro(const std::string& name, const std::vector<Parameter>& parameters, const NodeList& body,
                   const ScopePtr& defining_scope, int line) {
    retain(defining_scope);
    Scope* defining = defining_scope.get();
    return Value::function(name, [this, name, &parameters, &body, defining, line](const CallArgs& args) {
      DepthGuard guard(*this, line);
      ScopePtr scope = child_scope(defining->shared_from_this());
      if (args.positional.size() > parameters.size()) {
        throw EvalError("macro '" + name + "' takes not more than " + std::to_string(parameters.size()) +
                        " argument(s)");
      }
      for (size_t i = 0; i < parameters.size(); ++i) {
        const Parameter& parameter = parameters[i];
        const Value* keyword = args.find_keyword(parameter.name);
        if (i < args.positional.size()) {
          if (keyword) throw EvalError("macro '" + name + "' got multiple values for argument '" + parameter.name + "'");
          scope->variables[parameter.name] = args.positional[i];
        } else if (keyword) {
          scope->variables[parameter.name] = *keyword;
        } else if (parameter.default_value) {
          scope->variables[parameter.name] = eval(*parameter.default_value, scope);
        } else {
          scope->variables[parameter.name] = Value::undefined("parameter '" + parameter.name + "' was not provided");
        }
      }
      for (const auto& [keyword, value] : args.keyword) {
        if (keyword == "caller") {
          scope->variables["caller"] = value;
          continue;
        }
        bool known = false;
        for (const Parameter& parameter : parameters) known = known || parameter.name == keyword;
        if (!known) throw EvalError("macro '" + name + "' takes no keyword argument '" + keyword + "'");
      }
      std::string text;
      render_nodes(body, scope, text);
      return Value(std::move(text));
    });
  }

  void retain(const ScopePtr& scope) {
    if (retained_scopes_.empty() || retained_scopes_.back() != scope) retained_scopes_.push_back(scope);
  }

  // ---- Expressions ----

  Value eval(const Expr& expr, const ScopePtr& scope) {
    try {
      return eval_expr(expr, scope);
    } catch (const EvalError& error) {
      throw_template_error(expr.line, error.what());
    }
  }

  // Evaluates a filter chain whose innermost filter has no operand: the operand is
  // the rendered body of {% filter %} or {% set x | f %}.
  Value eval_with_block_input(const Expr& chain, const ScopePtr& scope, const Value& input) {
    Value saved = block_input_;
    block_input_ = input;
    Value result = eval(chain, scope);
    block_input_ = saved;
    return result;
  }

  Value eval_expr(const Expr& expr, const ScopePtr& scope) {
    switch (expr.kind) {
      case Expr::Kind::Literal:
        return expr.value;
      case Expr::Kind::Name: {
        const Value* value = scope->find(expr.name);
        return value ? *value : Value::undefined("'" + expr.name + "' is undefined");
      }
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        ValueList items;
        for (const ExprPtr& item : expr.items) items.push_back(eval(*item, scope));
        Value list = Value::list(std::move(items));
        if (expr.kind == Expr::Kind::Tuple) list.mark_tuple();
        return list;
      }
      case Expr::Kind::Dict: {
        Value dict = Value::dict();
        for (size_t i = 0; i + 1 < expr.items.size(); i += 2) {
          dict.as_dict().set(eval(*expr.items[i], scope), eval(*expr.items[i + 1], scope));
        }
        return dict;
      }
      case Expr::Kind::GetAttr:
        return get_attribute(eval(*expr.object, scope), expr.name);
      case Expr::Kind::GetItem:
        return get_item(eval(*expr.object, scope), eval(*expr.index, scope));
      case Expr::Kind::Slice:
        return eval_slice(expr, scope);
      case Expr::Kind::Call:
        return eval_call(expr, scope, nullptr);
      case Expr::Kind::Filter: {
        Value input = expr.object ? eval(*expr.object, scope) : block_input_;
        return apply_filter(expr.name, input, eval_arguments(expr, scope));
      }
      case Expr::Kind::Test: {
        Value input = eval(*expr.object, scope);
        bool result = apply_test(expr.name, input, eval_arguments(expr, scope));
        return Value(expr.negated ? !result : result);
      }
      case Expr::Kind::Unary:
        return eval_unary(expr, scope);
      case Expr::Kind::Binary:
        return eval_binary(expr, scope);
      case Expr::Kind::Compare: {
        Value left = eval(*expr.object, scope);
        for (const auto& [op, operand] : expr.comparisons) {
          Value right = eval(*operand, scope);
          if (!compare_values(op, left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::Condition:
        if (eval(*expr.test, scope).truthy()) return eval(*expr.then_expr, scope);
        if (expr.else_expr) return eval(*expr.else_expr, scope);
        return Value::undefined("the inline if-expression on line " + std::to_string(expr.line) +
                                " evaluated to false and no else section was defined.");
    }
    return Value();
  }

  Value eval_unary(const Expr& expr, const ScopePtr& scope) {
    Value operand = eval(*expr.object, scope);
    if (expr.name == "not") return Value(!operand.truthy());
    require_defined(operand);
    if (!operand.is_number()) throw EvalError("bad operand type for unary " + expr.name + ": '" + operand.type_name() + "'");
    if (expr.name == "+") return operand.is_float() ? operand : Value(operand.as_int());
    if (operand.is_float()) return Value(-operand.as_double());
    return Value(-operand.as_int());
  }

  Value eval_binary(const Expr& expr, const ScopePtr& scope) {
    Value left = eval(*expr.left, scope);
    if (expr.name == "and") return left.truthy() ? eval(*expr.right, scope) : left;
    if (expr.name == "or") return left.truthy() ? left : eval(*expr.right, scope);
    Value right = eval(*expr.right, scope);
    return binary_operation(expr.name, left, right);
  }

  Value eval_slice(const Expr& expr, const ScopePtr& scope) {
    Value object = eval(*expr.object, scope);
    auto bound = [&](const ExprPtr& part) -> std::optional<int64_t> {
      if (!part) return std::nullopt;
      Value value = eval(*part, scope);
      if (value.is_none()) return std::nullopt;
      if (!value.is_int() && !value.is_bool()) {
        throw EvalError("slice indices must be integers or None or have an __index__ method");
      }
      return value.as_int();
    };
    std::optional<int64_t> start = bound(expr.start);
    std::optional<int64_t> stop = bound(expr.stop);
    std::optional<int64_t> step = bound(expr.step);
    return slice_value(object, start, stop, step);
  }

  CallArgs eval_arguments(const Expr& expr, const ScopePtr& scope) {
    CallArgs args;
    for (const ExprPtr& item : expr.items) args.positional.push_back(eval(*item, scope));
    if (expr.dynamic_args) {
      for (Value& item : iterate(eval(*expr.dynamic_args, scope))) args.positional.push_back(std::move(item));
    }
    for (const auto& [name, value] : expr.keywords) args.keyword.emplace_back(name, eval(*value, scope));
    if (expr.dynamic_keywords) {
      Value extra = eval(*expr.dynamic_keywords, scope);
      if (!extra.is_dict()) throw EvalError("argument after ** must be a mapping, not " + extra.type_name());
      for (const auto& [key, value] : extra.as_dict().entries()) args.keyword.emplace_back(key.str(), value);
    }
    return args;
  }

  Value eval_call(const Expr& expr, const ScopePtr& scope, const Value* caller) {
    Value callee = eval(*expr.object, scope);
    CallArgs args = eval_arguments(expr, scope);
    if (caller) args.keyword.emplace_back("caller", *caller);
    try {
      return call_value(callee, args);
    } catch (const EvalError& error) {
      throw_template_error(expr.line, error.what());
    }
  }

  Value call_value(const Value& callee, const CallArgs& args) {
    if (callee.is_function()) return callee.as_function()(args);
    if (callee.is_dict()) {
      const Value* call = callee.as_dict().find(std::string("__call__"));
      if (call && call->is_function()) return call->as_function()(args);
    }
    require_defined(callee);
    throw EvalError("'" + callee.type_name() + "' is not callable");
  }

  Value get_attribute(const Value& object, const std::string& name) {
    require_defined(object);
    if (object.is_dict()) {
      if (!object.is_namespace()) {
        if (auto method = bound_method(object, name)) return *method;
      }
      if (const Value* value = object.as_dict().find(std::string(name))) return *value;
      return Value::undefined("'" + object.type_name() + "' has no attribute '" + name + "'");
    }
    if (auto method = bound_method(object, name)) return *method;
    return Value::undefined("'" + object.type_name() + "' has no attribute '" + name + "'");
  }

  Value get_item(const Value& object, const Value& key) {
    require_defined(object);
    bool found = false;
    Value value = get_index(object, key, found);
    if (found) return value;
    if (key.is_string()) {
      if (!object.is_namespace()) {
        if (auto method = bound_method(object, key.as_string())) return *method;
      }
      return Value::undefined("'" + object.type_name() + "' has no attribute '" + key.as_string() + "'");
    }
    return Value::undefined(object.type_name() + " has no element " + key.repr());
  }

  const RenderOptions& options_;
  size_t output_bytes_ = 0;
  size_t iterations_ = 0;
  size_t depth_ = 0;
  Value block_input_;
  std::vector<ScopePtr> retained_scopes_;
  std::vector<Value> namespaces_;
};

void collect_names(const Expr* expr, std::unordered_set<std::string>& names);

void collect_names(const NodeList& nodes, std::unordered_set<std::string>& names) {
  for (const NodePtr& node : nodes) {
    collect_names(node->expr.get(), names);
    collect_names(node->condition.get(), names);
    for (const auto& [condition, body] : node->branches) {
      collect_names(condition.get(), names);
      collect_names(body, names);
    }
    for (const ExprPtr& value : node->values) collect_names(value.get(), names);
    for (const Parameter& parameter : node->parameters) collect_names(parameter.default_value.get(), names);
    collect_names(node->body, names);
    collect_names(node->else_body, names);
  }
}

void collect_names(const Expr* expr, std::unordered_set<std::string>& names) {
  if (!expr) return;
  if (expr->kind == Expr::Kind::Name) names.insert(expr->name);
  for (const Expr* child : {expr->object.get(), expr->left.get(), expr->right.get(), expr->index.get(),
                            expr->start.get(), expr->stop.get(), expr->step.get(), expr->test.get(),
                            expr->then_expr.get(), expr->else_expr.get(), expr->dynamic_args.get(),
                            expr->dynamic_keywords.get()}) {
    collect_names(child, names);
  }
  for (const ExprPtr& item : expr->items) collect_names(item.get(), names);
  for (const auto& [name, value] : expr->keywords) collect_names(value.get(), names);
  for (const auto& [op, value] : expr->comparisons) collect_names(value.get(), names);
}

}  // namespace

Template::Template(const std::string& source) : nodes_(parse_template(source)) {}

Template::~Template() = default;

std::string Template::render(const Value& variables, const RenderOptions& options) const {
  Renderer renderer(options);
  try {
    return renderer.render(nodes_, variables);
  } catch (const TemplateError&) {
    throw;
  } catch (const EvalError& error) {
    throw TemplateError(std::string("template: ") + error.what());
  } catch (const std::bad_alloc&) {
    throw TemplateError("template: out of memory while rendering");
  } catch (const std::exception& error) {
    throw TemplateError(std::string("template: ") + error.what());
  }
}

bool Template::uses_variable(const std::string& name) const {
  std::unordered_set<std::string> names;
  collect_names(nodes_, names);
  return names.count(name) != 0;
}

}  // namespace brasa::jinja
