# Sourced by the benchmarks (after $build is set): both sides of a comparison
# run on the same OpenBLAS kernels, the ones `hnd` picks for this CPU
# (util/blas_env.h; OpenBLAS's own detection falls back to slow SSE3 kernels on
# VMs with a generic CPU model). A user's OPENBLAS_CORETYPE is kept.
if [ -z "${OPENBLAS_CORETYPE+x}" ]; then
  _ct=$("$build/hnd" info 2>/dev/null | sed -n 's/^blas kernels: .*(OPENBLAS_CORETYPE=\(.*\))$/\1/p')
  if [ -n "$_ct" ] && [ "$_ct" != unset ]; then export OPENBLAS_CORETYPE=$_ct; fi
fi
echo "bench: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} for hnd and python3-torch alike"
