// escape_controls: what a terminal would obey comes out escaped; everything else stays.

#include <gtest/gtest.h>

#include <vfgate/common/text.hpp>

namespace vfgate {
namespace {

TEST(EscapeControls, C0ControlsAndDelAreHexEscaped) {
    EXPECT_EQ(escape_controls(std::string("a\x1b[2Jb\n\t\r\x07\x7f\0z", 13)),
              "a\\x1b[2Jb\\x0a\\x09\\x0d\\x07\\x7f\\x00z");
}

TEST(EscapeControls, C1ControlsInUtf8AreEscaped) {
    EXPECT_EQ(escape_controls("x\xc2\x9b"
                              "31m"),
              "x\\u009b31m");                           // CSI
    EXPECT_EQ(escape_controls("\xc2\x85"), "\\u0085");  // NEL
}

TEST(EscapeControls, BytesThatArentUtf8AreHexEscaped) {
    EXPECT_EQ(escape_controls("\x9b"
                              "31m"),
              "\\x9b31m");                                 // a lone CSI of an 8-bit terminal
    EXPECT_EQ(escape_controls("\xe2\x82"), "\\xe2\\x82");  // a sequence cut short
    EXPECT_EQ(escape_controls("\xff"), "\\xff");
}

TEST(EscapeControls, PrintableTextAndUtf8AreKept) {
    EXPECT_EQ(escape_controls("/run/vfgate/dataplane.sock"), "/run/vfgate/dataplane.sock");
    EXPECT_EQ(escape_controls("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0"),
              "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0");
    EXPECT_EQ(escape_controls("C:\\path \\x1b"), "C:\\path \\x1b");
}

TEST(EscapeControls, EscapingTwiceChangesNothing) {
    const std::string once = escape_controls("\x1b]0;t\x07\xc2\x9b\x9b");
    EXPECT_EQ(escape_controls(once), once);
}

}  // namespace
}  // namespace vfgate
