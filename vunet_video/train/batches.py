"""Random training batches from a PairDataset, with mirror augmentation (model/augment.py).

Warp-skip inputs come in two kinds (TrainConfig.warp):
- "parts": the rigid per-part warp of the 128 px path (model/parts.py), what the shipped
  0.1 model was trained on;
- "mesh": the appearance frame's BodyMesh (render/mesh.py) deformed to the target pose and
  scaled to the model's crop by the same function as inference (full_resolution._model_warp),
  so the blend head learns where the moved pixels of the full-resolution path can be
  trusted. A mesh is built once per appearance frame (at the model's size: ~20 ms, ~120 kB)
  and kept. The weights record the kind ("warp" in their metadata), so the per-subject
  fine-tune builds the same kind.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model.augment import WARP_DROPOUT, WARP_JOINT_JITTER, WARP_SOURCE_MOVE, maybe_flip, training_warp
from ..model.inputs import appearance_input, on_plain_background, stickman_input, to_tensor
from ..model.vunet import empty_warp
from .dataset import PairDataset


class MeshWarps:
    """Warp inputs made as inference makes them (see the module docstring)."""

    def __init__(self, ds: PairDataset):
        self.ds = ds
        self.meshes: dict[int, object] = {}

    def mesh(self, j: int):
        from ..render.mesh import BodyMesh

        if j not in self.meshes:
            self.meshes[j] = BodyMesh(self.ds.images[j], self.ds.poses[j], self.ds.masks[j] * (1 / 255))
        return self.meshes[j]

    def __call__(self, i: int, j: int, flip: bool, rng: np.random.Generator) -> torch.Tensor:
        from ..model.augment import random_similarity_pose
        from ..render.full_resolution import crop_mesh_warp
        from ..pose.keypoints import Pose

        size = self.ds.size
        if rng.random() < WARP_DROPOUT:
            return empty_warp(torch.zeros(1, 1, size, size))[0]
        target = self.ds.poses[i]
        if i == j:
            # A photo is its own appearance source: its mesh is moved to a randomly shifted,
            # turned and scaled copy of the target pose, so the warp arrives misaligned as
            # between two frames of a video, not as an exact copy to trust blindly.
            target = random_similarity_pose(target, size, rng, *WARP_SOURCE_MOVE)
        noise = rng.normal(0.0, WARP_JOINT_JITTER * size, target.xy.shape).astype(np.float32)
        target = Pose(target.xy + noise, target.score)
        warp = crop_mesh_warp(self.mesh(j), target, size)
        # Mirroring the warp equals deforming the mirrored mesh to the mirrored target.
        return warp.flip(-1) if flip else warp


def sample_batch(ds: PairDataset, batch_size: int, part_size: int, rng: np.random.Generator,
                 warp: bool = False, mesh_warps: MeshWarps | None = None) -> dict:
    """A batch of (target stickman, appearance parts, target image, target mask) tensors, and
    with `warp` the appearance source warped onto the target pose: by its rigid parts, or
    with `mesh_warps` by its mesh."""
    stickmen, parts, images, masks, warps = [], [], [], [], []
    for _ in range(batch_size):
        i = ds.draw(rng)
        j = ds.pair(i, rng)
        flip = bool(rng.random() < 0.5)
        img, pose = maybe_flip(on_plain_background(ds.images[i], ds.masks[i]), ds.poses[i], flip)
        mask = ds.masks[i][:, ::-1] if flip else ds.masks[i]
        app_img, app_pose = maybe_flip(on_plain_background(ds.images[j], ds.masks[j]), ds.poses[j], flip)
        stickmen.append(stickman_input(pose, ds.size))
        parts.append(appearance_input(np.ascontiguousarray(app_img), app_pose, part_size))
        images.append(to_tensor(np.ascontiguousarray(img)))
        masks.append(torch.from_numpy(np.ascontiguousarray(mask)).float() / 255.0)
        if warp and mesh_warps is not None:
            warps.append(mesh_warps(i, j, flip, rng))
        elif warp:
            app_mask = np.ascontiguousarray(ds.masks[j][:, ::-1] if flip else ds.masks[j])
            warps.append(training_warp(np.ascontiguousarray(app_img), app_mask, app_pose, pose, i == j, rng))
    batch = {"stickman": torch.stack(stickmen), "parts": torch.stack(parts),
             "image": torch.stack(images), "mask": torch.stack(masks)}
    if warp:
        batch["warp"] = torch.stack(warps)
    return batch

