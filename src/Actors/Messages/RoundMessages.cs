using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

// The round loop: averager -> members -> averager.

/// <summary>
/// Train the next <paramref name="Steps"/> steps; snapshot, held-out accuracy and REPAIR statistics (of this
/// round's calibration batches) only when asked. A snapshot goes to the member's node reducer, and the member
/// then handles nothing but its <see cref="Mix"/> (or a restore) until that mix arrives, because the mix comes
/// by way of the reducer while later messages (CaptureState, the next Train) come straight from the averager.
/// <paramref name="Attempt"/> changes with every rollback: reports and mixes of an abandoned attempt are told
/// apart from a replay of the same round.
/// <paramref name="AheadSteps"/>: steps of the next round to train right after sending the snapshot, before the
/// mix is applied (papa.push-delay-steps); that round's Train then asks for the rest.
/// <paramref name="FeatureImages"/>: send the penultimate features of this many held-out images with the report (0: none).
/// </summary>
public sealed record Train(int Round, int Steps, bool SendSnapshot, bool EvaluateHeldOut, bool MeasureRepairStatistics = false, long Attempt = 0,
    int AheadSteps = 0, int FeatureImages = 0) : IPapaMessage;

/// <summary>
/// <paramref name="Finite"/>: every weight and BatchNorm buffer is finite (a diverged member is never mixed in).
/// <paramref name="WaitSeconds"/>: how long the member sat idle before this round's training (waiting for the
/// slowest member and for its mix); <paramref name="MixSeconds"/>: how long it spent applying that mix.
/// <paramref name="Features"/>: its penultimate features, when the Train asked for them.
/// </summary>
public sealed record Trained(
    int Member,
    int Round,
    long Step,
    double Loss,
    double LearningRate,
    long Samples,
    double Seconds,
    double? HeldOutAccuracy,
    WeightSnapshot? Snapshot,
    ActivationStatistics? RepairStatistics = null,
    bool Finite = true,
    double WaitSeconds = 0,
    double MixSeconds = 0,
    long Attempt = 0,
    FeatureMatrix? Features = null) : IPapaMessage
{
    /// <summary>Never mixed in: its weights or its loss are not finite.</summary>
    public bool Diverged => !Finite || !double.IsFinite(Loss);
}

/// <summary>
/// w &lt;- keep * w + (1 - keep) * weights. PAPA sends the mean with keep = rho, PAPA-all the mean with
/// keep = 0, PAPA-2 each member's child with keep = 0 (and names its parents). With REPAIR on,
/// <paramref name="RepairTargets"/> are the parents' statistics combined with the same weights.
/// <paramref name="MeasureGain"/>: the member answers with its <see cref="MixEvaluated"/> (papa.metrics.mix-gain).
/// </summary>
public sealed record Mix(int Round, WeightSnapshot Weights, double Keep, ParentPair? Parents, ActivationStatistics? RepairTargets = null, long Attempt = 0,
    bool MeasureGain = false) : IPapaMessage;

/// <summary>
/// Member -> averager, right after it applied the mix of <paramref name="Round"/> that asked for it: its held-out accuracy
/// on its weights just before the mix and on the mixed ones (after REPAIR and BatchNorm handling). Sent before anything
/// else the member answers after that mix (a checkpoint's state), so a checkpoint never falls between a mix and its measurement.
/// </summary>
public sealed record MixEvaluated(int Member, int Round, long Attempt, double HeldOutBefore, double HeldOutAfter) : IPapaMessage;
