// Copyright (c) kvd authors.

#include "jepsen/checker/model.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace kvd::lincheck {
namespace {

using std::nullopt;

class ModelTest : public ::testing::Test {
 protected:
  CompiledOp Compile(Model& model, Operation op) {
    CompiledOp compiled;
    const std::string error = model.Compile(op, &compiled);
    EXPECT_EQ(error, "");
    return compiled;
  }
  Operation Op(OpType type, std::optional<std::string> value = nullopt,
               Outcome outcome = Outcome::kOk) {
    return {.key = "k", .type = type, .value = value, .outcome = outcome};
  }
  Operation ReadOf(std::optional<std::string> result) {
    return {.key = "k", .type = OpType::kRead, .result = result};
  }
  Operation CasOf(std::optional<std::string> expected, std::string value, Outcome outcome) {
    return {
        .key = "k", .type = OpType::kCas, .value = value, .expected = expected, .outcome = outcome};
  }
};

TEST_F(ModelTest, RegisterReadWriteDelete) {
  Model model(ModelKind::kRegister);
  const int32_t absent = model.InitialState();
  EXPECT_EQ(model.Step(absent, Compile(model, ReadOf(nullopt))), absent);
  EXPECT_EQ(model.Step(absent, Compile(model, ReadOf(""))), Model::kIllegal)
      << "absent and empty are different register states";
  const int32_t one = model.Step(absent, Compile(model, Op(OpType::kWrite, "1")));
  EXPECT_EQ(model.DescribeState(one), "\"1\"");
  EXPECT_EQ(model.Step(one, Compile(model, ReadOf("1"))), one);
  EXPECT_EQ(model.Step(one, Compile(model, ReadOf("2"))), Model::kIllegal);
  EXPECT_EQ(model.Step(one, Compile(model, Op(OpType::kDelete))), absent);
  EXPECT_EQ(model.DescribeState(absent), "nil");
}

TEST_F(ModelTest, RegisterCasOutcomes) {
  Model model(ModelKind::kRegister);
  const int32_t one = model.Step(model.InitialState(), Compile(model, Op(OpType::kWrite, "1")));
  const int32_t two = model.Step(one, Compile(model, Op(OpType::kWrite, "2")));
  const CompiledOp ok = Compile(model, CasOf("1", "2", Outcome::kOk));
  EXPECT_EQ(model.Step(one, ok), two);
  EXPECT_EQ(model.Step(two, ok), Model::kIllegal);
  const CompiledOp fail = Compile(model, CasOf("1", "2", Outcome::kFail));
  EXPECT_EQ(model.Step(one, fail), Model::kIllegal);
  EXPECT_EQ(model.Step(two, fail), two);
  const CompiledOp unknown = Compile(model, CasOf("1", "2", Outcome::kUnknown));
  EXPECT_EQ(model.Step(one, unknown), two);
  EXPECT_EQ(model.Step(two, unknown), two);
  const CompiledOp from_absent = Compile(model, CasOf(nullopt, "1", Outcome::kOk));
  EXPECT_EQ(model.Step(model.InitialState(), from_absent), one);
  EXPECT_EQ(model.Step(one, from_absent), Model::kIllegal);
}

TEST_F(ModelTest, AppendStringTreatsAbsentAsEmpty) {
  Model model(ModelKind::kAppendString);
  const int32_t empty = model.InitialState();
  EXPECT_EQ(model.Step(empty, Compile(model, ReadOf(nullopt))), empty);
  EXPECT_EQ(model.Step(empty, Compile(model, ReadOf(""))), empty);
  const CompiledOp append_x = Compile(model, Op(OpType::kAppend, "x"));
  const int32_t x = model.Step(empty, append_x);
  const int32_t xx = model.Step(x, append_x);
  EXPECT_EQ(model.DescribeState(xx), "\"xx\"");
  EXPECT_EQ(model.Step(x, append_x), xx) << "the same string is the same state id";
  EXPECT_EQ(model.Step(xx, Compile(model, ReadOf("xx"))), xx);
  EXPECT_EQ(model.Step(xx, Compile(model, ReadOf("x"))), Model::kIllegal);
  EXPECT_EQ(model.Step(xx, Compile(model, Op(OpType::kWrite, "x"))), x);
}

TEST_F(ModelTest, CompileRejectsOperationsOutsideTheModel) {
  CompiledOp compiled;
  Model reg(ModelKind::kRegister);
  EXPECT_NE(reg.Compile(Op(OpType::kAppend, "x"), &compiled), "");
  EXPECT_NE(reg.Compile(Op(OpType::kWrite), &compiled), "") << "write without a value";
  EXPECT_NE(reg.Compile(Op(OpType::kWrite, "x", Outcome::kFail), &compiled), "");
  Model str(ModelKind::kAppendString);
  EXPECT_NE(str.Compile(CasOf("a", "b", Outcome::kOk), &compiled), "");
  EXPECT_NE(str.Compile(Op(OpType::kDelete), &compiled), "");
}

}  // namespace
}  // namespace kvd::lincheck
