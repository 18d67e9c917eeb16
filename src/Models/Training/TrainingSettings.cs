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

    public static readonly string[] Names = ["sgd", "adamw"];
}

/// <summary>REPAIR after mixes: on or off, calibration batches, whether hidden Linear layers are corrected too.</summary>
public sealed record RepairSettings(bool Enabled, int Batches, bool IncludeLinear)
{
    public static readonly RepairSettings Off = new(false, 5, true);
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
