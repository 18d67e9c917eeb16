using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Security;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Population;

/// <summary>
/// Combines the members of one node, so that a mixing round moves one sum up and one mean down per node, however
/// many members the node runs. On the averager's <see cref="CombineRound"/> it waits for those members' snapshots
/// (their <see cref="Trained"/> of that attempt and round), answers one <see cref="NodeTrained"/>, and hands the
/// averager's <see cref="NodeMix"/> to each member as its <see cref="Mix"/>. A report of an abandoned attempt is
/// replaced by the member's next one, so a rollback needs no cleanup here. A local run has one reducer for all.
/// It takes reports only from its own node's members and rounds and mixes only from the averager's node
/// (see <see cref="TrustedSenders"/>); anything else is dropped.
/// </summary>
public sealed class NodeReducer : BulkReceivingActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StrangerLog _strangers;
    private readonly Dictionary<int, Trained> _reports = [];
    private readonly Dictionary<int, IActorRef> _members = [];
    private CombineRound? _combine;
    private IActorRef _averager = ActorRefs.Nobody;
    /// <summary>The children formed here for the last combined round, kept for its NodeMix.</summary>
    private (long Attempt, int Round, IReadOnlyDictionary<ParentPair, WeightSnapshot> Children) _formed = (0, -1, new Dictionary<ParentPair, WeightSnapshot>());

    public NodeReducer()
    {
        _strangers = new StrangerLog(_log);
        Receive<Trained>(_ => !TrustedSenders.IsOfThisNode(Context.System, Sender), t => _strangers.Drop(t, Sender));
        Receive<IPapaMessage>(_ => !TrustedSenders.MaySteer(Context.System, Sender), m => _strangers.Drop(m, Sender));
        Receive<CombineRound>(c =>
        {
            _combine = c;
            _averager = Sender;
            TryCombine();
        });
        Receive<Trained>(t =>
        {
            _reports[t.Member] = t;
            _members[t.Member] = Sender;
            TryCombine();
        });
        Receive<NodeMix>(OnNodeMix);
        // A lost mix leaves this node's members waiting: each is reported failed, which rolls the population back.
        Receive<TransferFailed>(f =>
        {
            foreach (var (index, member) in _members)
                _averager.Tell(new MemberFailed(index, $"a message for its node from {f.From} was lost: {f.Reason}", Restarting: true), member);
        });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new NodeReducer()).WithDispatcher(ComputeDispatcher.Id);

    private void TryCombine()
    {
        if (_combine is not { } combine
            || !combine.Members.All(m => _reports.TryGetValue(m, out var r) && r.Attempt == combine.Attempt && r.Round == combine.Round))
            return;
        var reports = combine.Members.Select(m => _reports[m]).ToList();
        foreach (var member in combine.Members)
            _reports.Remove(member);
        _combine = null;

        if (reports.FirstOrDefault(r => r.Snapshot is null) is { } empty)
        {
            // Reported as the member's own failure, which rolls the population back.
            _averager.Tell(new MemberFailed(empty.Member, $"it sent no snapshot for round {empty.Round}", Restarting: true), _members[empty.Member]);
            return;
        }
        var snapshots = reports.ToDictionary(r => r.Member, r => r.Snapshot!);
        var finite = reports.Where(r => !r.Diverged).Select(r => r.Snapshot!).ToList();
        var sum = combine.Sum && finite.Count > 0 ? PartialSum.Of(finite) : null;
        var children = combine.FormChildren
            .Where(pair => !reports.Any(r => r.Diverged && (r.Member == pair.First || r.Member == pair.Second)))
            .ToDictionary(pair => pair, pair => WeightMath.Child(snapshots[pair.First], snapshots[pair.Second]));
        _formed = (combine.Attempt, combine.Round, children);
        var node = new NodeTrained(combine.Attempt, combine.Round, reports.Select(r => r with { Snapshot = null }).ToImmutableArray(), sum,
            combine.UploadSnapshots.ToImmutableDictionary(m => m, m => snapshots[m]),
            combine.UploadChildren.Where(children.ContainsKey).ToImmutableDictionary(pair => pair, pair => children[pair]));
        BulkTransport.For(Context.System).Send(_averager, node, Self);
    }

    private void OnNodeMix(NodeMix mix)
    {
        var formedHere = (_formed.Attempt, _formed.Round) == (mix.Attempt, mix.Round) ? _formed.Children : new Dictionary<ParentPair, WeightSnapshot>();
        foreach (var member in mix.Members)
        {
            var weights = mix.Mean
                ?? (member.Parents?.Sorted is { } pair && (mix.Children.TryGetValue(pair, out var child) || formedHere.TryGetValue(pair, out child))
                    ? child
                    : throw new InvalidOperationException($"round {mix.Round}: no weights for member {member.Member} (parents {member.Parents})"));
            if (_members.TryGetValue(member.Member, out var target))
                target.Tell(new Mix(mix.Round, weights, member.Keep, member.Parents, member.RepairTargets, mix.Attempt, mix.MeasureGain), Sender);
            else
                _log.Warning("round {0}: a mix for member {1}, which never reported here", mix.Round, member.Member);
        }
    }
}
