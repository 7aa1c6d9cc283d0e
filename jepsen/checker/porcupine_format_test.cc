// Copyright (c) kvd authors.

#include "jepsen/checker/porcupine_format.h"

#include <gtest/gtest.h>

#include "jepsen/checker/edn_map.h"

namespace kvd::lincheck {
namespace {

TEST(JepsenRegisterLogTest, ParsesEveryEventKind) {
  const ParsedHistory parsed = ParseJepsenRegisterLog(
      "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 4]\n"
      "INFO  jepsen.core - something else entirely\n"
      "INFO  jepsen.util - 0\t:ok\t:read\t3\n"
      "INFO  jepsen.util - 1\t:fail\t:cas\t[1 4]\n"
      "INFO  jepsen.util - 2\t:invoke\t:write\t2\r\n"
      "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
      "INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n"
      "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 3\t:ok\t:read\tnil\n"
      "INFO  jepsen.util - 4\t:invoke\t:write\t0\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  const std::vector<Operation>& h = parsed.history;
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(FormatOperation(h[0]), "p0 read key=\"register\" -> \"3\" ok call=1 ret=4");
  EXPECT_EQ(FormatOperation(h[1]),
            "p1 cas key=\"register\" expected=\"1\" value=\"4\" fail call=2 ret=5");
  EXPECT_EQ(FormatOperation(h[2]), "p2 write key=\"register\" value=\"2\" unknown call=6 ret=inf");
  EXPECT_EQ(FormatOperation(h[3]), "p3 read key=\"register\" -> nil ok call=9 ret=10");
  EXPECT_EQ(h[3].result, std::nullopt);
  // Never completed: unknown.
  EXPECT_EQ(FormatOperation(h[4]), "p4 write key=\"register\" value=\"0\" unknown call=11 ret=inf");
}

TEST(JepsenRegisterLogTest, ReportsTheFirstBadLine) {
  EXPECT_EQ(ParseJepsenRegisterLog("INFO  jepsen.util - 0\t:ok\t:read\t3\n").error,
            "line 1: completion without an invocation");
  EXPECT_EQ(ParseJepsenRegisterLog("\nINFO  jepsen.util - 0\t:invoke\t:cas\t[1]\n").error,
            "line 2: cas argument is not [FROM TO]");
  EXPECT_EQ(ParseJepsenRegisterLog("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                                   "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n")
                .error,
            "line 2: process invoked twice without completing");
  EXPECT_EQ(ParseJepsenRegisterLog("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                                   "INFO  jepsen.util - 0\t:ok\t:write\t1\n")
                .error,
            "line 2: completion of a different operation than invoked");
  EXPECT_FALSE(ParseJepsenRegisterLog("INFO  jepsen.util - x\t:invoke\t:read\tnil\n").ok());
  EXPECT_FALSE(ParseJepsenRegisterLog("INFO  jepsen.util - 0\t:invoke\t:frob\tnil\n").ok());
}

TEST(KvLogTest, ParsesGetPutAppend) {
  const ParsedHistory parsed = ParseKvLog(
      "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n"
      "{:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n"
      "{:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n"
      "{:process 1, :type :ok, :f :get, :key \"4\", :value \"q\\\"uote\"}\n"
      "\n"
      "{:process 2, :type :invoke, :f :put, :key \"5\", :value \"z\"}\n"
      "{:process 3, :type :invoke, :f :put, :key \"5\", :value \"w\"}\n"
      "{:process 3, :type :fail, :f :put, :key \"5\", :value \"w\"}\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error;
  const std::vector<Operation>& h = parsed.history;
  ASSERT_EQ(h.size(), 4u);
  EXPECT_EQ(FormatOperation(h[0]), "p0 append key=\"4\" value=\"x 0 1 y\" ok call=1 ret=3");
  EXPECT_EQ(FormatOperation(h[1]), "p1 read key=\"4\" -> \"q\\\"uote\" ok call=2 ret=4");
  EXPECT_EQ(FormatOperation(h[2]), "p2 write key=\"5\" value=\"z\" unknown call=6 ret=inf");
  EXPECT_EQ(FormatOperation(h[3]), "p3 write key=\"5\" value=\"w\" fail call=7 ret=8");
}

TEST(KvLogTest, ReportsTheFirstBadLine) {
  EXPECT_EQ(ParseKvLog("{:process 0, :type :invoke, :f :get, :key \"4\", :value nil}\n"
                       "{:process 0, :type :invoke, :f :get, :key \"4\"\n")
                .error,
            "line 2: expected a value at column 46");
  EXPECT_EQ(ParseKvLog("{:process 0, :type :invoke, :f :cas, :key \"4\", :value nil}").error,
            "line 1: unknown function \":cas\"");
  EXPECT_EQ(ParseKvLog("{:process 0, :type :invoke, :f :put, :key \"4\", :value nil}").error,
            "line 1: put/append without a string :value");
}

TEST(EdnMapTest, ParsesScalars) {
  EdnMap map;
  ASSERT_EQ(ParseEdnMap(" {:a 1, :b -2 :c :kw, :d \"s\\\\t\\n\", :e nil, :f true} ", &map), "");
  EXPECT_EQ(map.at(":a").integer, 1);
  EXPECT_EQ(map.at(":b").integer, -2);
  EXPECT_EQ(map.at(":c").text, ":kw");
  EXPECT_EQ(map.at(":d").text, "s\\t\n");
  EXPECT_EQ(map.at(":e").kind, EdnValue::Kind::kNil);
  EXPECT_EQ(map.at(":f").integer, 1);
  EXPECT_NE(ParseEdnMap("{:a \"open}", &map), "");
  EXPECT_NE(ParseEdnMap("{:a 1} x", &map), "");
  EXPECT_NE(ParseEdnMap("{:a 1 :a 2}", &map), "");
  EXPECT_NE(ParseEdnMap("{\"a\" 1}", &map), "");
  EXPECT_NE(ParseEdnMap("{:a [1 2]}", &map), "");
}

}  // namespace
}  // namespace kvd::lincheck
