// Host arange: out[i] = start + i * step, computed in double and converted to the dtype.
#include "kernels.h"

namespace nn {
namespace k {

void HostArange(DType dt, void* out, int64_t numel, double start, double step) {
  NN_DISPATCH_HOST(dt, {
    using C = Compute<T>;
    T* o = static_cast<T*>(out);
    for (int64_t i = 0; i < numel; i++) o[i] = Store<T>(static_cast<C>(start + static_cast<double>(i) * step));
  });
}

}  // namespace k
}  // namespace nn
