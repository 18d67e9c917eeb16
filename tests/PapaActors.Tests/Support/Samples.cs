using System.Collections.Immutable;
using System.Reflection;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Tests.Support;

/// <summary>One filled-in instance of every wire message, and a field-by-field comparison for them.</summary>
public static class Samples
{
    public static WeightSnapshot Snapshot(int seed = 1) => new(
        new WeightLayout([
            new WeightEntry("features.0.weight", [2, 3], WeightKind.Parameter),
            new WeightEntry("features.1.running_var", [2], WeightKind.Buffer),
            new WeightEntry("features.1.num_batches_tracked", [], WeightKind.Counter),
        ]),
        [.. Enumerable.Range(0, 9).Select(i => (float)(seed * 10 + i) / 7 - 1e-7f * i)]);

    /// <summary>A member state whose optimizer has one momentum buffer (an empty optimizer layout is legal too).</summary>
    public static MemberState State(int member) => new(member, 1234, Snapshot(member),
        new WeightSnapshot(new WeightLayout([new WeightEntry("features.0.weight.momentum_buffer", [2, 3], WeightKind.Buffer)]),
            [.. Enumerable.Range(0, 6).Select(i => i / 3f)]));

    public static ActivationStatistics Statistics(int seed) => new([
        new LayerStatistics("features.0", [seed, -0.5f, float.Epsilon], [1, 2, 3]),
        new LayerStatistics("classifier.1", [seed / 3f], [0.25f]),
    ]);

    public static IReadOnlyList<object> AllWireMessages(IActorRef actor) =>
    [
        new RegisterMember(3, actor, "a1b2c3d4e5f60718", actor),
        new MemberAccepted(3),
        new MemberRejected(9, "member index 9 is outside the population 0..3"),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: false),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: true, MeasureRepairStatistics: true, Attempt: 1L << 40, AheadSteps: 5),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2)),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2), Statistics(2), WaitSeconds: 0.125, MixSeconds: 0.0625),
        new Trained(2, 13, 140, double.NaN, 0.049, 1280, 0.8, null, null, Finite: false),
        new CaptureState(14),
        new StateCaptured(14, State(2)),
        new RestoreState(14, State(3), Attempt: 5),
        new RestoreState(0, null),
        new StateRestored(3, 14),
        new Mix(12, Snapshot(3), 0.99, null),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3)),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3), Statistics(3), Attempt: 7),
        new CombineRound(7, 13, [0, 2], Sum: true, [], [], []),
        new CombineRound(7, 13, [1, 3], Sum: false, [3], [new ParentPair(1, 3)], [new ParentPair(1, 3)]),
        new NodeTrained(7, 13, [new Trained(1, 13, 140, 0.5, 0.05, 1280, 0.8, null, null, Statistics(1), Attempt: 7)], PartialSum.Of([Snapshot(1)]),
            ImmutableDictionary<int, WeightSnapshot>.Empty, ImmutableDictionary<ParentPair, WeightSnapshot>.Empty),
        new NodeTrained(7, 13, [], new PartialSum(Snapshot().Layout, 3, [double.NaN, 1e300, 0.1, 1, 2, 3, 4, 5, 6], ImmutableDictionary<int, ImmutableArray<double>>.Empty.Add(0, [1e30, 1e-30, -1])),
            ImmutableDictionary<int, WeightSnapshot>.Empty.Add(3, Snapshot(3)), ImmutableDictionary<ParentPair, WeightSnapshot>.Empty.Add(new ParentPair(0, 1), Snapshot(8))),
        new NodeMix(7, 13, Snapshot(2), [new MemberMix(0, 0.99, null, null), new MemberMix(2, 0.99, null, Statistics(2))], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty),
        new NodeMix(7, 13, null, [new MemberMix(1, 0, new ParentPair(3, 1), null)], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty.Add(new ParentPair(1, 3), Snapshot(9))),
        new Finish(40),
        new MemberFinal(1, Snapshot(5), 0.9, 0.91, [1.5f, -2, float.MaxValue, float.Epsilon]),
        new MemberFinal(2, Snapshot(5), 0.9, 0.91, [1.5f], Statistics(2)),
        new EvaluateWeights(7, Snapshot(6), RecomputeBatchNorm: true, OnHeldOut: true, Test: null, ReturnWeights: true),
        new EvaluateWeights(9, Snapshot(6), RecomputeBatchNorm: false, OnHeldOut: true, Test: null, ReturnWeights: true, Statistics(4)),
        new EvaluateWeights(8, Snapshot(6), RecomputeBatchNorm: false, OnHeldOut: false, Test: new TestSlice(1, 3), ReturnWeights: false),
        new WeightsEvaluated(7, 0.88, 0, 0, Snapshot(7)),
        new WeightsEvaluated(8, null, 870, 1000, null),
        new MemberFailed(2, "ArgumentException: device 'cuda:0' asked for"),
        new MemberFailed(1, "InvalidOperationException: injected fault", Restarting: true),
        new RunEnded(Completed: true, "average soup 91.48%"),
        new RequestRunConfig("akka.tcp://papa@10.0.0.2:4055"),
        new RunConfigText("papa.method = \"papa\"\npapa.population = \"4\"\n"),
        new RequestMissingMembers("akka.tcp://papa@10.0.0.3:4056", [2, 3]),
        new RequestMissingMembers("akka.tcp://papa@10.0.0.3:4056", null),
        new MissingMembers([1]),
        new MissingMembers([]),
        new MessageChunk(99, 1, 3, 1_000_000, 0xDEADBEEF, 7101, "trained", [1, 2, 3]),
        new StreamedMessage(99, 37_000_000, "mix"),
        new StreamTransferFailed(99, "could not connect to 10.0.0.2:41234 within 60 s"),
        new StreamPortRequest(),
        new StreamPort(41234, 2L << 30),
    ];

    public static IEnumerable<Type> WireMessageTypes() =>
        typeof(IPapaMessage).Assembly.GetTypes().Where(t => typeof(IPapaMessage).IsAssignableFrom(t) && !t.IsInterface);

    /// <summary>Compares every public property; arrays, lists, dictionaries and snapshots by content.</summary>
    public static void AssertSame(object expected, object actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        foreach (var property in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"))
            Same(property.GetValue(expected), property.GetValue(actual));
    }

    private static void Same(object? e, object? a)
    {
        switch (e)
        {
            case null:
                Assert.Null(a);
                break;
            case WeightSnapshot snapshot:
                var other = Assert.IsType<WeightSnapshot>(a);
                Assert.Equal(snapshot.Layout.Fingerprint, other.Layout.Fingerprint);
                Assert.Equal<float>(snapshot.Values, other.Values);
                break;
            case PartialSum sum:
                var received = Assert.IsType<PartialSum>(a);
                Assert.Equal((sum.Layout.Fingerprint, sum.Count), (received.Layout.Fingerprint, received.Count));
                Assert.Equal<double>(sum.Sums, received.Sums);
                Same(sum.Addends.ToDictionary(), received.Addends.ToDictionary());
                break;
            case ActivationStatistics statistics:
                var measured = Assert.IsType<ActivationStatistics>(a);
                Assert.Equal(statistics.Layers.Select(l => l.Layer), measured.Layers.Select(l => l.Layer));
                Assert.Equal(statistics.Layers.SelectMany(l => l.Mean.Concat(l.Std)), measured.Layers.SelectMany(l => l.Mean.Concat(l.Std)));
                break;
            case System.Collections.IDictionary dictionary:
                var actualDictionary = Assert.IsAssignableFrom<System.Collections.IDictionary>(a);
                Assert.Equal(dictionary.Keys.Cast<object>().Select(k => k.ToString()).Order(), actualDictionary.Keys.Cast<object>().Select(k => k.ToString()).Order());
                foreach (var key in dictionary.Keys)
                    Same(dictionary[key], actualDictionary[key]);
                break;
            case System.Collections.IList list:
                var actualList = Assert.IsAssignableFrom<System.Collections.IList>(a);
                Assert.Equal(list.Count, actualList.Count);
                for (var i = 0; i < list.Count; i++)
                    Same(list[i], actualList[i]);
                break;
            case MemberState or Trained or MemberMix:
                AssertSame(e, a!);
                break;
            default:
                Assert.Equal(e, a);
                break;
        }
    }
}
