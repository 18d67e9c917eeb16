namespace PapaActors.Actors.Configuration;

/// <summary>What happens when a member fails or diverges, and how often the run is checkpointed.</summary>
public sealed record FaultSettings(
    double CheckpointEveryEpochs,
    int CheckpointsKept,
    bool RollbackOnMemberLoss,
    int MaxRestarts,
    bool ResetOnDivergence,
    TimeSpan ReplacementTimeout,
    FaultInjection Injection)
{
    public static readonly FaultSettings Defaults = new(1.0, 2, true, 3, false, TimeSpan.FromMinutes(10), FaultInjection.None);
}

/// <summary>
/// Member <paramref name="ThrowMember"/> throws when asked to train the round containing <paramref name="ThrowAtStep"/>,
/// <paramref name="ThrowTimes"/> times per process (-1: always); member <paramref name="DivergeMember"/> poisons its
/// weights with NaN after training the round containing <paramref name="DivergeAtStep"/>; each checkpoint
/// write pauses <paramref name="CheckpointPause"/> before its manifest, so a test can kill it halfway; the
/// member whose index is written into <paramref name="ThrowFile"/> throws at its next round (a chaos script's trigger).
/// </summary>
public sealed record FaultInjection(int ThrowMember, long ThrowAtStep, int ThrowTimes, int DivergeMember = -1, long DivergeAtStep = 0, TimeSpan CheckpointPause = default,
    string ThrowFile = "")
{
    public static readonly FaultInjection None = new(-1, 0, 0);
}
