namespace PapaActors.Models.Training;

public sealed record OptimizerSettings(
    string Name,
    double LearningRate,
    double MinLearningRate,
    double Momentum,
    double WeightDecay,
    bool Nesterov,
    double WarmupEpochs)
{
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
