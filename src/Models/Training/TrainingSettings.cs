namespace PapaActors.Models.Training;

/// <param name="Milestones">MultiStep decay: fractions of the whole run at which the learning rate is multiplied by <paramref name="Gamma"/>.</param>
/// <param name="ClipGradNorm">Clips the total 2-norm of a member's gradients to this value before every step (0: off).</param>
public sealed record OptimizerSettings(
    string Name,
    double LearningRate,
    double MinLearningRate,
    double Momentum,
    double WeightDecay,
    bool Nesterov,
    double WarmupEpochs,
    LearningRateDecay Decay = LearningRateDecay.Cosine,
    IReadOnlyList<double>? MilestoneFractions = null,
    double Gamma = 0.1,
    double ClipGradNorm = 0)
{
    public IReadOnlyList<double> Milestones => MilestoneFractions ?? [];

    // By value, milestones included (a record compares lists by reference).
    public bool Equals(OptimizerSettings? other) =>
        other is not null && (Name, LearningRate, MinLearningRate, Momentum, WeightDecay, Nesterov, WarmupEpochs, Decay, Gamma, ClipGradNorm)
            == (other.Name, other.LearningRate, other.MinLearningRate, other.Momentum, other.WeightDecay, other.Nesterov, other.WarmupEpochs, other.Decay,
                other.Gamma, other.ClipGradNorm)
        && Milestones.SequenceEqual(other.Milestones);

    public override int GetHashCode() => HashCode.Combine(Name, LearningRate, Decay, Milestones.Count);

    public static readonly string[] Names = ["sgd", "adamw"];
}

/// <summary>
/// REPAIR after mixes (<paramref name="Enabled"/>) and of soups (<paramref name="Soups"/>, the reference's repair_soup):
/// calibration batches, whether hidden Linear layers are corrected too.
/// </summary>
public sealed record RepairSettings(bool Enabled, int Batches, bool IncludeLinear, bool Soups = false)
{
    /// <summary>Whether members measure and correct REPAIR's layers at all.</summary>
    public bool Used => Enabled || Soups;
}

/// <summary>
/// Everything a member needs to build and train its model; the same for every member of a run (a member's
/// own regularisation is its combination of <see cref="Variations"/>).
/// </summary>
public sealed record TrainingSettings(
    string Model,
    double ModelWidth,
    int BatchSize,
    int Epochs,
    OptimizerSettings Optimizer,
    VariationLists Variations,
    BaseAugmentation Augmentation,
    int EvalBatchSize,
    int BatchNormResetBatches,
    bool SameInit,
    RepairSettings Repair,
    bool MixRecomputesBatchNorm,
    bool ResetOptimizerOnMix,
    long Seed);
