# Quick stand-ins for run_all.sh's do_* steps, so that its lanes, markers, waiting and
# copying can be tested on a machine without a GPU. The real steps run on the GPU machine.
STEP_SLEEP=${STEP_SLEEP:-0}
pause() { sleep "$STEP_SLEEP"; }
do_env() { echo '{"device": "fake"}' > "$WORK/env.json"; }
do_install() { pause; }
do_build() { pause; echo '{"ok": true, "how": "jit", "build_s": 1}' > "$WORK/build.json"; }
do_make_small() { pause; mkdir -p "$M/small-fp16"; }
do_make_embedder() { pause; }
do_make_big_l2() { pause; }
do_make_big() { pause; }
do_convert_small() { pause; mkdir -p "$M/small-exl2"; }
do_convert_big() { pause; }
do_measure_small() {
    pause
    "$PY" - "$RESULTS" "$HERE" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
from benchlib import Results
r = Results(sys.argv[1], {"device": "fake GPU"})
r.put("small", "decode", {"short": {"decode_tps": 123.4}})
PY
}
do_measure_big() { pause; }
do_logits_small() { pause; echo '{"results": []}' > "$WORK/logits.json"; }
do_logits_big() { pause; false; }
do_pytest() { pause; }
do_e2e() { pause; echo '{"steps": [], "pass": true}' > "$WORK/e2e.json"; }
do_bench_cli() { pause; }
