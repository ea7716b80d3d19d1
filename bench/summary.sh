#!/usr/bin/env bash
# The summary table of make bench: every target (issues #20 and #18), the ratio a
# benchmark printed for it (a "RATIO name value target" line in LOG),
# pass / FAIL / skip / missing. Ratios printed that are not in the list
# follow. Exit 0 (a missed target is reported, not an error).
#   usage: bench/summary.sh LOG
set -euo pipefail
log=$1
# name|target|where it is measured
targets="detect_faster_r50|<=0.6|detect_bench.sh (Faster R-CNN R50-FPN, 800x1067)
detect_mask_r50|<=0.6|detect_bench.sh (Mask R-CNN R50-FPN, 800x1067)
head_r50_t2|<=0.5|bench_export_head.sh (hnd head: stem, encoder, 8-bit quantizer, R50 C=3, 800x1088, vs PyTorch)
head_c_r50_t2|<=0.5|bench_export_head.sh (the exported plain-C head vs PyTorch)
teacher_step_mask_r18|<=0.8|teacher_step_bench.sh (demo Mask R-CNN R18)
teacher_step_faster_r50|<=0.8|teacher_step_bench.sh (Faster R-CNN R50, 800x1067)
stem_layer1|<=0.9|stem_layer1.sh
hnd_step|<=0.8|hnd_step_bench.sh
eval_bbox_val2017|>=40|eval_bench.sh (5000 images, 500k results)
eval_segm_val2017|>=40|eval_bench.sh (5000 images, 500k results)
eval_segm_1000|>=20|eval_bench.sh (1000 images, 16k results)
demo_minutes|<=10|make demo (its last run; not run by make bench)
eb_bytes_vs_8bit|<=0.25|eb_bench.sh (issue 18: EB bytes at the best 8-bit student's bbox AP; its last run)"
echo
echo "=== make bench summary (the targets of issues #20 and #18)"
printf "%-26s %10s %8s  %-7s %s\n" ratio value target status "measured by"
status() { # value target -> pass / FAIL / skip
  case $1 in ''|skip) echo skip; return;; esac
  awk -v v="$1" -v t="$2" 'BEGIN { op = substr(t, 1, 2); x = substr(t, 3) + 0;
    ok = (op == "<=") ? (v + 0 <= x) : (v + 0 >= x); print ok ? "pass" : "FAIL" }'
}
known=" "
while IFS='|' read -r name target where; do
  known="$known$name "
  line=$(grep "^RATIO $name " "$log" | tail -1 || true)
  if [ -z "$line" ]; then
    printf "%-26s %10s %8s  %-7s %s\n" "$name" - "$target" missing "$where"
    continue
  fi
  read -r _ _ value _ note <<< "$line"
  printf "%-26s %10s %8s  %-7s %s\n" "$name" "$value" "$target" "$(status "$value" "$target")" "$where${note:+ ($note)}"
done <<< "$targets"
grep "^RATIO " "$log" | while read -r _ name value target note; do
  case $known in *" $name "*) continue;; esac
  printf "%-26s %10s %8s  %-7s %s\n" "$name" "$value" "$target" "$(status "$value" "$target")" "${note:-}"
done
