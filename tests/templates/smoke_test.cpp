#include <gtest/gtest.h>

#include "templates/chat_template.h"

TEST(ChatTemplateSmoke, RendersText) {
  auto t = brasa::make_jinja_chat_template("{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m['content'] }}\n{% endfor %}");
  brasa::ChatTemplateInputs in;
  in.bos_token = "<s>";
  in.messages = nlohmann::json::parse(R"([{"role":"user","content":"hi"}])");
  EXPECT_EQ(t->render(in), "<s>user:hi\n");
}
