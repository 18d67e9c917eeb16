using System.Collections.Immutable;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Run;

/// <summary>
/// What a round's mix is made of: the mean of the finite members (from the node sums), the members' snapshots and
/// the children the nodes sent up; <paramref name="FormedHere"/>: every child is formed here (after a reset).
/// </summary>
public sealed record MixInputs(WeightSnapshot? Mean, IReadOnlyDictionary<int, WeightSnapshot> Snapshots,
    IReadOnlyDictionary<ParentPair, WeightSnapshot> Children, bool FormedHere);

/// <summary>
/// How a mixing round goes through the nodes: what each node's reducer sends up, and the one <see cref="NodeMix"/> each
/// node gets back. Members are combined on their node before anything crosses the network, so the mean is the same
/// bits for any assignment of members to nodes.
/// </summary>
public static class NodeMixing
{
    /// <summary>
    /// What each node reducer sends up this round: the sum of its members (PAPA, PAPA-all); for PAPA-2 the children
    /// whose parents are both on it, formed there (sent up only when a member elsewhere needs one), and the parents of
    /// children whose parents are on two nodes.
    /// </summary>
    public static IEnumerable<(TPeer Reducer, CombineRound Message)> CombineRounds<TPeer>(MemberTable<TPeer> members, RoundPlan plan, long attempt)
        where TPeer : class
    {
        var pairs = plan.Mix is ReplaceWithChildren c ? c.Parents.Select((p, j) => (Pair: p.Sorted, Child: j)).ToList() : [];
        foreach (var reducer in members.Reducers)
        {
            var here = members.MembersOn(reducer).ToImmutableArray();
            var form = pairs.Select(p => p.Pair).Distinct().Where(p => FormedOn(members, p, reducer)).ToImmutableArray();
            var upload = pairs.Where(p => FormedOn(members, p.Pair, reducer) && !reducer.Equals(members.ReducerOf(p.Child))).Select(p => p.Pair).Distinct().ToImmutableArray();
            var parents = pairs.Select(p => p.Pair).Where(p => !members.ReducerOf(p.First).Equals(members.ReducerOf(p.Second)))
                .SelectMany(p => new[] { p.First, p.Second }).Where(m => reducer.Equals(members.ReducerOf(m))).Distinct().Order().ToImmutableArray();
            yield return (reducer, new CombineRound(attempt, plan.Round, here, plan.Mix is PushTowardMean or ReplaceWithMean, parents, form, upload));
        }
    }

    /// <summary>
    /// Every node's members' mixes, one <see cref="NodeMix"/> per node: the mean (PAPA, PAPA-all) or the children the
    /// node did not form itself (PAPA-2). With REPAIR statistics, each member also gets the parents' statistics combined
    /// with the shares each member has in its new weights (<see cref="MixDecision.SharesAfter"/>).
    /// </summary>
    public static IEnumerable<(TPeer Reducer, NodeMix Mix)> NodeMixes<TPeer>(MemberTable<TPeer> members, RoundPlan plan, IReadOnlyList<ActivationStatistics>? statistics,
        MixInputs inputs, long attempt, bool measureGain) where TPeer : class
    {
        var children = new Dictionary<ParentPair, WeightSnapshot>(inputs.Children);
        WeightSnapshot Child(ParentPair pair) =>
            children.TryGetValue(pair, out var child) ? child : children[pair] = WeightMath.Child(inputs.Snapshots[pair.First], inputs.Snapshots[pair.Second]);

        MemberMix MixFor(int j) => new(j, plan.Mix.KeepOf(j), plan.Mix.ParentsOf(j),
            statistics is null ? null : ActivationStatistics.WeightedSum(statistics, plan.Mix.SharesAfter(j, members.Population)));

        foreach (var reducer in members.Reducers)
        {
            var mixes = members.MembersOn(reducer).Select(MixFor).ToImmutableArray();
            var sent = mixes.Select(m => m.Parents?.Sorted).OfType<ParentPair>().Distinct()
                .Where(pair => inputs.FormedHere || !FormedOn(members, pair, reducer)).ToImmutableDictionary(pair => pair, Child);
            yield return (reducer, new NodeMix(attempt, plan.Round, plan.Mix is ReplaceWithChildren ? null : inputs.Mean, mixes, sent, measureGain));
        }
    }

    private static bool FormedOn<TPeer>(MemberTable<TPeer> members, ParentPair pair, TPeer reducer) where TPeer : class =>
        reducer.Equals(members.ReducerOf(pair.First)) && reducer.Equals(members.ReducerOf(pair.Second));
}
