# Sourced by the benchmarks: the one machine-readable line per measured
# ratio that bench/run_all.sh collects into its summary table.
#   bench_ratio NAME VALUE TARGET [NOTE...]
# TARGET is "<=X" (hnd/reference time) or ">=X" (reference/hnd speed-up);
# VALUE is a number, or "skip" with the reason as NOTE.
bench_ratio() {
  local name=$1 value=$2 target=$3; shift 3
  echo "RATIO $name $value $target${*:+ $*}"
}
# ratio_of A B: A/B with 3 decimals ("skip" when B is not positive)
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "skip" }'; }
