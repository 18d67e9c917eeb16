using PapaActors.Models.Weights;

namespace PapaActors.Models.Training;

/// <summary>
/// A member's whole training state at a round boundary: what a checkpoint stores and a rollback restores.
/// Everything else a member computes (data order, augmentation draws, calibration batches) derives from the
/// run seed and the step, so (weights, optimizer state, step) is enough to continue bit for bit.
/// <see cref="Optimizer"/> holds the optimizer's tensors under PyTorch-style names
/// (`&lt;parameter&gt;.momentum_buffer`, `&lt;parameter&gt;.exp_avg`, ...); an empty layout means a fresh optimizer.
/// </summary>
public sealed record MemberState(int Member, long Step, WeightSnapshot Weights, WeightSnapshot Optimizer);
