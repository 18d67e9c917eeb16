using PapaActors.Actors.Messages;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Run;

/// <summary>
/// A round whose reports name diverged members and did not bring the finite members' weights (no mix, or PAPA-2's
/// parents and children): the finite members' weights are collected here for the mean the diverged ones reset to.
/// </summary>
internal sealed class DivergedReset(int round, IReadOnlyList<Trained> reports, IReadOnlyList<int> diverged)
{
    private readonly Dictionary<int, WeightSnapshot> _weights = [];

    public IReadOnlyList<Trained> Reports => reports;
    public IReadOnlyList<int> Diverged => diverged;

    /// <summary>The finite members, whose weights are asked for.</summary>
    public IEnumerable<int> Finite => reports.Select(r => r.Member).Where(i => !diverged.Contains(i));

    /// <summary>
    /// Whether <paramref name="captured"/> is a finite member's state this reset still waits for: of the step the member
    /// reported, so a state it sent for the checkpoint at the round's start (which a node's report may overtake) is not.
    /// </summary>
    public bool Awaits(StateCaptured captured) =>
        captured.Round == round && Finite.Contains(captured.State.Member) && !_weights.ContainsKey(captured.State.Member)
        && captured.State.Step == reports[captured.State.Member].Step;

    /// <summary>Takes a finite member's weights; returns them all, by member, once every finite member's have come.</summary>
    public IReadOnlyDictionary<int, WeightSnapshot>? Add(int member, WeightSnapshot weights)
    {
        _weights[member] = weights;
        return Finite.All(_weights.ContainsKey) ? _weights : null;
    }
}
