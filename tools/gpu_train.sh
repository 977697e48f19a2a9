#!/usr/bin/env bash
# A lent-GPU session that trains the 256 px model (configs/vunet_256.toml). Prepare here:
#     echo /.gpu/ >> .git/info/exclude
#     python tools/compact_cache.py pack data/train_cache_v2 .gpu/train_v2.zip --split train
#     and .gpu/effnet_lite0_train_layers.pth (the perceptual network's first five blocks,
#     tools/gpu_train.py: use_trimmed_perceptual_weights)
# then run, through the device tool with carry [".gpu"]:  bash tools/gpu_train.sh MINUTES [gpu_train.py options]
# (to train an earlier run longer: --init .gpu/vunet_256.safetensors --lr 1e-4 --snapshot-minutes 4,6)
# Results land in $OUT (the device tool's return folder): see tools/gpu_train.py.
set -euo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "cores: $(nproc)"
"$PY" -c "import torch, cv2, safetensors; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__)"
"$PY" tools/compact_cache.py unpack .gpu/train_v2.zip /tmp/train_cache_v2
workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))
"$PY" tools/gpu_train.py --cache /tmp/train_cache_v2 --effnet .gpu/effnet_lite0_train_layers.pth --out "$OUT" \
    --minutes "${1:-6.5}" --workers "${WORKERS:-$workers}" ${STEPS:+--steps $STEPS} "${@:2}" 2>&1 | tee "$OUT/train.log"
