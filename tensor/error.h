// wick::Error — the one exception type for every misuse a user can make.
//
// Messages name the op and the offending values, e.g.
//   matmul: inner dimensions differ: [3,4] @ [5,6] (4 != 5)
// WICK_CHECK(cond, "op: ...", values...) builds the message only on failure.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace wick {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Concatenates its arguments with operator<< into a string.
template <typename... Args>
std::string str(Args&&... args) {
  return detail::str_cat(std::forward<Args>(args)...);
}

}  // namespace wick

#define WICK_CHECK(cond, ...)                           \
  do {                                                  \
    if (!(cond)) throw ::wick::Error(::wick::str(__VA_ARGS__)); \
  } while (0)

#define WICK_FAIL(...) throw ::wick::Error(::wick::str(__VA_ARGS__))
