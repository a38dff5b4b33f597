// Uses the installed wick: a gradient through matmul.
#include <wick.h>

#include <cstdio>

int main() {
  wick::Tensor x = wick::tensor({1.0, 2.0, 3.0, 4.0}, wick::Shape{2, 2}, wick::kFloat64).requires_grad_();
  wick::Tensor y = wick::sum(wick::matmul(x, x));
  y.backward();
  // d/dx sum(x @ x) = 1 x^T + x^T 1 ; its sum is 40 for this x.
  std::printf("consumer ok: %g\n", wick::sum(x.grad()).item<double>());
  return 0;
}
