// bury(p): drops an owning pointer without recursing into the chain it may
// own (see node.cpp). Used by destructors of graph objects.
#pragma once

#include <memory>

namespace wick::autograd {
void bury(std::shared_ptr<void> p);
}
