#!/usr/bin/env bash
# Runs LowBitQuant's end-to-end quality experiments on stories260K (docs/results/quality.md).
# Usage: scripts/quality-experiments.sh OUTDIR [SHARED]   (SHARED defaults to ../shared, e.g. /work/shared in a worktree)
# Needs a Release build: dotnet build -c Release src/LowBitQuant.Cli
# Writes OUTDIR/json/<name>.json (the CLI's --json summary plus "wall_seconds") and OUTDIR/ckpt/<name>/ (checkpoints).
# Summarise with: python3 scripts/quality-table.py OUTDIR
set -euo pipefail
OUT=${1:?OUTDIR}
SHARED=${2:-../shared}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=(dotnet "$ROOT/src/LowBitQuant.Cli/bin/Release/net10.0/LowBitQuant.Cli.dll" quantize)
C=$SHARED/corpora/janeausten
CAL=("$C/emma.txt" "$C/mansfieldpark.txt" "$C/northangerabbey.txt" "$C/prideprejudice.txt" "$C/sensesensibility.txt")
HF=$SHARED/models/stories260K-hf
L2C=$SHARED/models/stories260K/stories260K.bin
EVAL=(--eval "$C/persuasion.txt" --eval-tokens 10220)   # 20 windows of 511 scored tokens (+ BOS)
L=512                                                   # the model's full context
mkdir -p "$OUT/json" "$OUT/ckpt"

# run NAME MODEL ARGS... : one quantize run; FORMAT none gets no --out.
run() {
  local name=$1 model=$2; shift 2
  local json="$OUT/json/$name.json"
  if [[ -s $json ]]; then echo "skip $name (done)"; return; fi
  local outargs=(--out "$OUT/ckpt/$name" --force)
  [[ " $* " == *" --format none "* ]] && outargs=()
  echo "run  $name: $*"
  local t0 t1
  t0=$(date +%s.%N)
  "${CLI[@]}" --model "$model" --calibration "${CAL[@]}" "$@" "${outargs[@]}" "${EVAL[@]}" --json > "$json.tmp"
  t1=$(date +%s.%N)
  jq --argjson w "$(echo "$t1 - $t0" | bc)" --arg args "$*" '. + {wall_seconds: $w, args: $args}' "$json.tmp" > "$json"
  rm "$json.tmp"
}

GPTQ=(--method gptq --act-order --static-groups)
for b in 4 3 2; do
  # 1. Main table: every method, all modules, group 0 (one group per row), 128 x 512.
  run "main-rtn-$b"   "$HF" --method rtn   --bits $b --group-size 0 --samples 128 --sequence-length $L --format dashq
  run "main-gptq-$b"  "$HF" "${GPTQ[@]}"   --bits $b --group-size 0 --samples 128 --sequence-length $L --format dashq
  run "main-dashq-$b" "$HF" --method dashq --bits $b --group-size 0 --samples 128 --sequence-length $L --format dashq
  run "main-heroq-$b" "$HF" --method heroq --inner gptq --act-order --static-groups --bits $b --group-size 0 --samples 128 --sequence-length $L --format dashq
  run "main-heroqdashq-$b" "$HF" --method heroq --inner dashq --bits $b --group-size 0 --samples 128 --sequence-length $L --format dashq
done
# 2. GPTQ checkpoint format, group 32 (the 172-wide FFN modules are excluded and stay full precision).
for b in 4 3; do
  run "gptqfmt-rtn-$b"  "$HF" --method rtn  --bits $b --group-size 32 --samples 128 --sequence-length $L --format gptq
  run "gptqfmt-gptq-$b" "$HF" "${GPTQ[@]}"  --bits $b --group-size 32 --samples 128 --sequence-length $L --format gptq
  run "gptqfmt-heroq-$b" "$HF" --method heroq --inner gptq --act-order --static-groups --bits $b --group-size 32 --samples 128 --sequence-length $L --format gptq
done
# 3. Small calibration: N = 2, 8, 64 (N = 128 is the main table), same L.
for b in 3 2; do
  for n in 2 8 64; do
    run "small-gptq-$b-n$n"  "$HF" "${GPTQ[@]}"   --bits $b --group-size 0 --samples $n --sequence-length $L --format dashq
    run "small-dashq-$b-n$n" "$HF" --method dashq --bits $b --group-size 0 --samples $n --sequence-length $L --format dashq
  done
done
# 4. GPTQ 3-bit one-pass (true-sequential is main-gptq-3).
run "onepass-gptq-3" "$HF" "${GPTQ[@]}" --bits 3 --group-size 0 --samples 128 --sequence-length $L --format dashq --one-pass
# 5. The same command on the llama2.c input (compare with main-gptq-4).
run "llama2c-gptq-4" "$L2C" "${GPTQ[@]}" --bits 4 --group-size 0 --samples 128 --sequence-length $L --format dashq
echo done
