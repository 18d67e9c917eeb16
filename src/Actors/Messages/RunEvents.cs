using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

/// <summary>
/// What the Averager tells its listener (the run recorder, the console, a test). These stay on the
/// Averager's node, so they are exempt from serialization checks and never reach the wire.
/// </summary>
public interface IRunEvent : INoSerializationVerificationNeeded;

public sealed record RunStarted(PapaSettings Settings, SchedulePlan Plan, IReadOnlyList<string> MemberAddresses) : IRunEvent;

/// <summary>A round is done: every member's report (in member order) and the mix that followed.</summary>
/// <param name="AveragingSeconds">The Averager's time to compute this round's mix and send it (0 without a mix).</param>
/// <param name="FeatureSimilarity">At an epoch end (papa.metrics.feature-similarity): how alike the members' features were.</param>
/// <param name="AwaitsMixGain">The mix that followed is measured: a <see cref="MixGainMeasured"/> per member comes later.</param>
public sealed record RoundCompleted(RoundPlan Plan, IReadOnlyList<Trained> Reports, double AveragingSeconds = 0, PopulationSimilarity? FeatureSimilarity = null,
    bool AwaitsMixGain = false) : IRunEvent;

/// <summary>A member's held-out accuracy just before and just after the mix that ended <paramref name="Round"/>.</summary>
public sealed record MixGainMeasured(int Round, int Member, double HeldOutBefore, double HeldOutAfter) : IRunEvent;

public sealed record RunCompleted(RunResults Results) : IRunEvent;

/// <summary>The run ended without results: <paramref name="Status"/> is "failed" or "diverged".</summary>
public sealed record RunFailed(string Reason, string Status = RunStatus.Failed) : IRunEvent;

/// <summary>Stopped on request (Ctrl-C, SIGTERM) at a round boundary, after the checkpoint of <paramref name="Round"/> was written (if any).</summary>
public sealed record RunInterrupted(int? CheckpointRound, string Reason) : IRunEvent;

public static class RunStatus
{
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Diverged = "diverged";
    public const string Interrupted = "interrupted";
}

/// <summary>A run is asked to stop at the next round boundary, with a checkpoint (sent by the host on Ctrl-C/SIGTERM).</summary>
public sealed record Interrupt(string Reason) : IRunEvent;

/// <summary>Write this checkpoint; the recorder fills in the journal and metrics lengths and answers the Averager.</summary>
public sealed record CheckpointDue(Checkpoints.Checkpoint Checkpoint) : IRunEvent;

public sealed record CheckpointWritten(int Round, string Folder, long Bytes, double Milliseconds) : IRunEvent;

/// <summary>The checkpoint could not be written (disk full, no permission); the previous one is intact.</summary>
public sealed record CheckpointFailed(int Round, string Reason) : IRunEvent;

/// <summary>
/// The run goes back to the checkpoint of <paramref name="Round"/> (null: to the start): the recorder cuts the
/// journal and metrics back and answers with <see cref="RollbackReady"/>.
/// </summary>
public sealed record RollBack(int? Round, string Cause) : IRunEvent;

/// <summary>The checkpoint to restore every member from (null: members start afresh), or why it cannot be loaded.</summary>
public sealed record RollbackReady(Checkpoints.Checkpoint? Checkpoint, string? Problem = null) : IRunEvent;

/// <summary>Diverged members replaced by the mean of the finite ones in <paramref name="Round"/> (a journaled decision).</summary>
public sealed record MembersReset(int Round, IReadOnlyList<int> Members, string Reason) : IRunEvent;

/// <summary>
/// A fault the run survived (for faults.jsonl and the console): what happened and what the Averager does;
/// <paramref name="Replacement"/>: the run waits for a node to run these members (the Host says how to start one).
/// </summary>
public sealed record FaultRecorded(string Kind, int? Member, int Round, string Detail, ReplacementWanted? Replacement = null) : IRunEvent;

/// <summary>Members no node runs, and the address a member node joins to run them.</summary>
public sealed record ReplacementWanted(string SeedNode, IReadOnlyList<int> Members);

public sealed record MemberResult(int Member, double TestAccuracy, double HeldOutAccuracy, WeightSnapshot Weights);

public sealed record SoupResult(string Name, double TestAccuracy, double HeldOutAccuracy, IReadOnlyList<int> MembersUsed, WeightSnapshot Weights);

public sealed record RunResults(
    IReadOnlyList<MemberResult> Members,
    double EnsembleTestAccuracy,
    SoupResult AverageSoup,
    SoupResult GreedySoup,
    long TrainingSamples,
    double TrainingSeconds,
    RunPhases Phases);

/// <summary>
/// Where a run's time went, in seconds: averaging (the Averager computing and sending mixes), waiting (a
/// member's idle time between rounds, averaged over members: the barrier), and finishing (final evaluation and
/// soups); averaging and waiting are part of training. Peak RSS of the process that ran the Averager.
/// </summary>
public sealed record RunPhases(double AveragingSeconds, double WaitingSeconds, double FinishingSeconds, long PeakRssBytes);
