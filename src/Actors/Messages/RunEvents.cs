using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

/// <summary>
/// What the Averager tells its listener (the run recorder, the console, a test). These stay on the
/// Averager's node, so they are exempt from serialization checks and never reach the wire.
/// </summary>
public interface IRunEvent : INoSerializationVerificationNeeded;

public sealed record RunStarted(PapaSettings Settings, SchedulePlan Plan, IReadOnlyList<string> MemberAddresses) : IRunEvent;

/// <summary>A round is done: every member's report (in member order) and the mix that followed.</summary>
public sealed record RoundCompleted(RoundPlan Plan, IReadOnlyList<Trained> Reports) : IRunEvent;

public sealed record RunCompleted(RunResults Results) : IRunEvent;

public sealed record RunFailed(string Reason) : IRunEvent;

public sealed record MemberResult(int Member, double TestAccuracy, double HeldOutAccuracy, WeightSnapshot Weights);

public sealed record SoupResult(string Name, double TestAccuracy, double HeldOutAccuracy, IReadOnlyList<int> MembersUsed, WeightSnapshot Weights);

public sealed record RunResults(
    IReadOnlyList<MemberResult> Members,
    double EnsembleTestAccuracy,
    SoupResult AverageSoup,
    SoupResult GreedySoup,
    long TrainingSamples,
    double TrainingSeconds);
