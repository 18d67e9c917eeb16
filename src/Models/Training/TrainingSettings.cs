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

/// <summary>Everything a member needs to build and train its model; the same for every member of a run.</summary>
public sealed record TrainingSettings(
    string Model,
    double ModelWidth,
    int BatchSize,
    int Epochs,
    OptimizerSettings Optimizer,
    double LabelSmoothing,
    int EvalBatchSize,
    int BatchNormResetBatches,
    bool SameInit,
    long Seed);
