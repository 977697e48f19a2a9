#!/usr/bin/env bash
# A lent-GPU session: the whole `animate` (PyAV decode, MediaPipe pose, the VUNet on CUDA,
# x264 encode) on the device machine, which has torch and OpenCV but no PyAV or MediaPipe
# and cannot reach a registry. Prepare here, in the repository's root:
#     echo /.gpu_pipe/ >> .git/info/exclude
#     .gpu_pipe/site.tar.xz: the cp312 manylinux wheels of av and mediapipe==0.10.14 unpacked,
#         MediaPipe's hand, face, iris, palm, selfie, holistic and objectron models removed
#         (the pose solution needs none of them), packed with tar -cJf (40 MB)
#     .gpu_pipe/pb/protobuf-4.25.*.whl: MediaPipe 0.10.14's protobuf
#     .gpu_pipe/py/: the wheels of rtmlib, ffmpeg-python and future (pure Python)
#     .gpu_pipe/shared/data/dev/{driving,subjects}/: the clips and the photo to benchmark
# The device tool carries at most 64 MiB, the repository included; the benchmark result
# PNGs (13 MB) were emptied in the working tree for the call and restored afterwards.
# Then, through the device tool with carry [".gpu_pipe"]:  bash tools/gpu_pipeline.sh
# Results land in $OUT: the quick start's video and profile, and pipeline_gpu*.md.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu_pipeline}
PY=${PY:-python3}
SECONDS_EACH=${SECONDS_EACH:-4}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo)"
if [ -z "${NO_SITE:-}" ]; then  # (NO_SITE=1: a dry run here, with this machine's own packages)
    mkdir -p /tmp/site && tar -xJf .gpu_pipe/site.tar.xz -C /tmp/site || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
# MediaPipe 0.10.14 imports with a newer protobuf but fails at its first frame
# (MessageFactory.GetPrototype is gone since protobuf 5): its own 4.25 goes first on the path,
# with the pure-Python packages the machine lacks (rtmlib, ffmpeg-python and its `future`).
mkdir -p /tmp/pb && for w in .gpu_pipe/pb/*.whl .gpu_pipe/py/*.whl; do "$PY" -m zipfile -e "$w" /tmp/pb; done
export PYTHONPATH=/tmp/pb:$PYTHONPATH
"$PY" -c "import av, mediapipe, rtmlib, ffmpeg, torch, cv2, google.protobuf as pb; print('av', av.__version__, 'mediapipe', mediapipe.__version__, 'protobuf', pb.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cv2', cv2.__version__)" || exit 1
export VUNET_SHARED=$PWD/.gpu_pipe/shared VUNET_CACHE_DIR=/tmp/vunet_cache
clips=(--video .gpu_pipe/shared/data/dev/driving/sports2d_lateral_raise.mp4
       --video .gpu_pipe/shared/data/dev/driving/musepose_dance.mp4)

echo "== 1. the README's quick start, as a user runs it (empty cache: the tune included)"
start=$EPOCHREALTIME
"$PY" -m vunet_video animate samples/subject.png samples/dance.mp4 -o "$OUT/quick_start.mp4" --profile \
    ${GPU:+--device $GPU}
rc=$?
echo "quick start: exit $rc, $("$PY" -c "print(round($EPOCHREALTIME - $start, 1))") s wall"
[ "$rc" = 0 ] || exit 1

echo "== 2. the pipeline benchmark, model on the GPU"
"$PY" benchmarks/pipeline.py --device "${GPU:-cuda}" --seconds "$SECONDS_EACH" --repeats 1 "${clips[@]}" \
    --out "$OUT/pipeline_gpu.md" >/dev/null

echo "== 3. the same clips, model on the GPU in fp32"
"$PY" benchmarks/pipeline.py --device "${GPU:-cuda}" --set model.precision=fp32 --quick --seconds "$SECONDS_EACH" \
    --repeats 1 "${clips[@]}" --out "$OUT/pipeline_gpu_fp32.md" >/dev/null

echo "== 4. the same clips, everything on this machine's CPU cores"
"$PY" benchmarks/pipeline.py --device cpu --quick --seconds "$SECONDS_EACH" --repeats 1 "${clips[@]}" \
    --out "$OUT/pipeline_gpu_machine_cpu.md" >/dev/null
echo "== done"
