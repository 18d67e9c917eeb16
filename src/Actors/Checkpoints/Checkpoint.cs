using PapaActors.Models.Training;

namespace PapaActors.Actors.Checkpoints;

/// <summary>
/// The complete state of a run at the boundary before round <paramref name="Round"/>: every member's state,
/// the Averager's counters, and how long the journal and metrics.csv were then (a resume cuts them back to
/// these lengths, so the rounds played again are written once).
/// </summary>
public sealed record Checkpoint(
    int Round,
    long Samples,
    double TrainingSeconds,
    long JournalBytes,
    long MetricsBytes,
    IReadOnlyList<MemberState> Members);
