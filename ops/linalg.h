// Linear algebra: matmul with torch.matmul's rules, mm, bmm, mv, dot, outer,
// tril/triu, and a symmetric eigensolver.
#pragma once

#include <utility>

#include "tensor/tensor.h"

namespace wick {

// torch.matmul: 1-D x 1-D is a dot product; 2-D x 2-D a matrix product; a 1-D
// operand is promoted to a matrix (prepend / append 1) and the added dim is
// removed after; N-D operands are batched with the batch dims broadcast.
// Error example: "matmul: inner dimensions differ: [3,4] @ [5,6] (4 != 5)".
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);    // [n,k] @ [k,m]
Tensor bmm(const Tensor& a, const Tensor& b);   // [b,n,k] @ [b,k,m]
Tensor mv(const Tensor& a, const Tensor& v);    // [n,k] @ [k]
Tensor dot(const Tensor& a, const Tensor& b);   // [n] . [n] -> 0-d
Tensor outer(const Tensor& a, const Tensor& b); // [n] x [m] -> [n,m]
// beta * c + alpha * (a @ b), c broadcast to the product's shape.
Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, const Scalar& beta = 1, const Scalar& alpha = 1);
// Lower / upper triangle of the last two dims (diagonal offset k), rest zero.
Tensor tril(const Tensor& x, int64_t k = 0);
Tensor triu(const Tensor& x, int64_t k = 0);
// Eigen-decomposition of a symmetric matrix [n,n] (or batch [...,n,n]):
// eigenvalues ascending, eigenvectors as columns (cyclic Jacobi). No gradient.
std::pair<Tensor, Tensor> eigh(const Tensor& x);

}  // namespace wick
