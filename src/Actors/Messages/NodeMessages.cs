using System.Collections.Immutable;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Messages;

// Per node: the members of a node are combined on it before anything crosses the network.

/// <summary>
/// Averager -> node reducer, with the round's Train: wait for the Trained (with snapshots) of
/// <paramref name="Members"/> in this attempt and round, then answer one <see cref="NodeTrained"/> with the exact
/// sum of the finite members' weights when <paramref name="Sum"/> (PAPA, PAPA-all), and for PAPA-2 the members'
/// snapshots in <paramref name="UploadSnapshots"/> (parents of a child whose other parent is on another node),
/// the children of <paramref name="FormChildren"/> (both parents here) formed here, of which those in
/// <paramref name="UploadChildren"/> go up (a member on another node needs them).
/// </summary>
public sealed record CombineRound(
    long Attempt,
    int Round,
    ImmutableArray<int> Members,
    bool Sum,
    ImmutableArray<int> UploadSnapshots,
    ImmutableArray<ParentPair> FormChildren,
    ImmutableArray<ParentPair> UploadChildren) : IPapaMessage;

/// <summary>
/// A node's members' reports for the round (without snapshots) and what <see cref="CombineRound"/> asked for;
/// <paramref name="Sum"/> is null when every member of the node diverged.
/// </summary>
public sealed record NodeTrained(
    long Attempt,
    int Round,
    ImmutableArray<Trained> Reports,
    PartialSum? Sum,
    ImmutableDictionary<int, WeightSnapshot> Snapshots,
    ImmutableDictionary<ParentPair, WeightSnapshot> Children) : IPapaMessage;

/// <summary>
/// The round's mix for the members of one node, sent once for all of them: the population mean (PAPA, PAPA-all),
/// or for PAPA-2 the children the node did not form itself; the reducer hands each member its <see cref="Mix"/>.
/// <paramref name="MeasureGain"/>: every member measures this mix (see <see cref="MixEvaluated"/>).
/// </summary>
public sealed record NodeMix(
    long Attempt,
    int Round,
    WeightSnapshot? Mean,
    ImmutableArray<MemberMix> Members,
    ImmutableDictionary<ParentPair, WeightSnapshot> Children,
    bool MeasureGain = false) : IPapaMessage;

/// <summary>One member's part of a <see cref="NodeMix"/>: its weights are the mean, or the child of <paramref name="Parents"/>.</summary>
public sealed record MemberMix(int Member, double Keep, ParentPair? Parents, ActivationStatistics? RepairTargets);
