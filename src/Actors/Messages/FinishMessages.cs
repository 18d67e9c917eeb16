using System.Collections.Immutable;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

// The end: final snapshots and logits, then soup evaluations shared by the members.

public sealed record Finish(int Round) : IPapaMessage;

/// <param name="RepairStatistics">With repair-soup: the member's REPAIR statistics on the soups' calibration batches.</param>
public sealed record MemberFinal(
    int Member,
    WeightSnapshot Weights,
    double TestAccuracy,
    double HeldOutAccuracy,
    ImmutableArray<float> TestLogits,
    ActivationStatistics? RepairStatistics = null) : IPapaMessage;

/// <summary>
/// Evaluate other weights (a soup): REPAIRed towards <paramref name="RepairTargets"/> if given (on the soups' calibration
/// batches, BatchNorm re-estimated after), else with <paramref name="RecomputeBatchNorm"/> the BatchNorm statistics
/// re-estimated (<paramref name="ReturnWeights"/> sends the weights back as evaluated); then the held-out split when
/// asked, and the <paramref name="Test"/> slice of the test set, if any.
/// </summary>
public sealed record EvaluateWeights(int RequestId, WeightSnapshot Weights, bool RecomputeBatchNorm, bool OnHeldOut, TestSlice? Test, bool ReturnWeights,
    ActivationStatistics? RepairTargets = null) : IPapaMessage;

/// <summary>Part <paramref name="Part"/> of <paramref name="Parts"/> equal contiguous parts of the test set.</summary>
public sealed record TestSlice(int Part, int Parts);

/// <summary>Held-out accuracy if it was asked for; the test slice's correct predictions out of its images (0 of 0 without one).</summary>
public sealed record WeightsEvaluated(int RequestId, double? HeldOutAccuracy, long TestCorrect, long TestCount, WeightSnapshot? Weights) : IPapaMessage;

/// <summary>The run is over (completed or failed): members stop, and member nodes shut down when theirs have.</summary>
public sealed record RunEnded(bool Completed, string Summary) : IPapaMessage;
