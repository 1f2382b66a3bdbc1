#!/usr/bin/env bash
# Spiking-Mix sweep on Fashion-MNIST: small SpikingResformer (configs/spikingmix_fmnist_small.py),
# T in {1, 2, 4} x {standard LIF, quantised LIF} x {no mix, Spiking-Mix}, 400 steps at batch 32 each,
# run ONE AT A TIME through the CLI; accuracy on the full 10k test set and wall times come from each
# run's results.json. Usage: bash benchmarks/spikingmix_fmnist_sweep.sh [OUT_DIR] [T list]
# Prints one JSON line per run (also appended to OUT_DIR/sweep.jsonl). DATA=/path/to/fashion_mnist (the four
# Fashion-MNIST IDX .gz files) reads local files; unset, tensorflow-datasets downloads the dataset.
set -euo pipefail
OUT=${1:-/tmp/spikingmix_sweep}
TS=${2:-"1 2 4"}
DATA=${DATA:-}
mkdir -p "$OUT"
for t in $TS; do
  for neuron in lif shared; do
    for mix in nomix mix; do
      name="T${t}_${neuron}_${mix}"
      rm -rf "${OUT:?}/$name"
      start=$(date +%s.%N)
      python -m snnjax.main --config "configs/spikingmix_fmnist_small.py:${neuron},${mix}" \
        --workdir "$OUT/$name" --config.data.dir="$DATA" --config.model.num_steps="$t" \
        > "$OUT/$name.log" 2>&1
      end=$(date +%s.%N)
      python - "$OUT/$name/results.json" "$name" "$t" "$neuron" "$mix" "$start" "$end" <<'PY' | tee -a "$OUT/sweep.jsonl"
import json, sys
path, name, t, neuron, mix, start, end = sys.argv[1:]
r = json.load(open(path))
print(json.dumps(dict(run=name, T=int(t), neuron=neuron, mix=mix, test_accuracy=round(r["test_accuracy"], 4),
                      firing_rate=round(r["firing_rate"], 4), steps=r["steps"], params=r["params"],
                      train_eval_wall_s=round(r["wall_time_s"], 1),
                      process_wall_s=round(float(end) - float(start), 1))))
PY
    done
  done
done
