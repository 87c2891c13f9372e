#pragma once

// The syntax tree the parser builds and the interpreter walks. Each node keeps
// the template line it came from, for error messages.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "templates/jinja_value.h"

namespace brasa::jinja {

struct Expr;
struct Node;
using ExprPtr = std::unique_ptr<Expr>;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Expr {
  enum class Kind {
    Literal,    // value
    Name,       // name
    List,       // items
    Tuple,      // items
    Dict,       // items: key, value, key, value...
    GetAttr,    // object.name
    GetItem,    // object[index]
    Slice,      // object[start:stop:step], any of them may be null
    Call,       // object(args, keywords, *dynamic_args, **dynamic_keywords)
    Filter,     // object | name(args, keywords); object is null inside {% filter %}
    Test,       // object is [not] name(args)
    Unary,      // op ("not", "-", "+") applied to object
    Binary,     // left op right, including "and" / "or"
    Compare,    // object then (op, operand) pairs, chained like Python
    Condition,  // then_expr if test else else_expr (else_expr may be null)
  };

  Kind kind = Kind::Literal;
  int line = 0;
  Value value;
  std::string name;  // variable, attribute, filter or test name, or operator
  bool negated = false;
  ExprPtr object, left, right, index, start, stop, step, test, then_expr, else_expr;
  ExprPtr dynamic_args, dynamic_keywords;
  std::vector<ExprPtr> items;  // list, tuple and dict items; positional arguments
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  std::vector<std::pair<std::string, ExprPtr>> comparisons;
};

// A macro or caller parameter with its default value (null when required).
struct Parameter {
  std::string name;
  ExprPtr default_value;
};

struct Node {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // branches (condition, body), else_body
    For,          // targets in expr [if condition] [recursive]: body, else_body
    Set,          // targets = expr, or attribute_target.attribute = expr
    SetBlock,     // {% set target | filters %}body{% endset %}
    Macro,        // name(parameters): body
    CallBlock,    // {% call(parameters) expr %}body{% endcall %}
    FilterBlock,  // {% filter expr %}body{% endfilter %}
    With,         // {% with assignments %}body{% endwith %}
    Break,
    Continue,
  };

  Kind kind = Kind::Text;
  int line = 0;
  std::string text;
  ExprPtr expr;       // Output, For (iterable), Set, CallBlock (call), FilterBlock (filter chain)
  ExprPtr condition;  // For ... if condition
  std::vector<std::string> targets;  // For and Set targets; With names
  std::string attribute;             // Set on a namespace attribute: targets[0].attribute
  bool recursive = false;
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList body;
  NodeList else_body;
  std::vector<Parameter> parameters;
  std::vector<ExprPtr> values;  // With: one value per target
};

}  // namespace brasa::jinja
