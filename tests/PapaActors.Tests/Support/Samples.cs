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
        Enumerable.Range(0, 9).Select(i => (float)(seed * 10 + i) / 7 - 1e-7f * i).ToArray());

    /// <summary>A member state whose optimizer has one momentum buffer (an empty optimizer layout is legal too).</summary>
    public static MemberState State(int member) => new(member, 1234, Snapshot(member),
        new WeightSnapshot(new WeightLayout([new WeightEntry("features.0.weight.momentum_buffer", [2, 3], WeightKind.Buffer)]),
            Enumerable.Range(0, 6).Select(i => i / 3f).ToArray()));

    public static ActivationStatistics Statistics(int seed) => new([
        new LayerStatistics("features.0", [seed, -0.5f, float.Epsilon], [1, 2, 3]),
        new LayerStatistics("classifier.1", [seed / 3f], [0.25f]),
    ]);

    public static IReadOnlyList<object> AllWireMessages(IActorRef actor) =>
    [
        new RegisterMember(3, actor, "a1b2c3d4e5f60718"),
        new MemberAccepted(3),
        new MemberRejected(9, "member index 9 is outside the population 0..3"),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: false),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: true, MeasureRepairStatistics: true),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2)),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2), Statistics(2), WaitSeconds: 0.125, MixSeconds: 0.0625),
        new Trained(2, 13, 140, double.NaN, 0.049, 1280, 0.8, null, null, Finite: false),
        new CaptureState(14),
        new StateCaptured(14, State(2)),
        new RestoreState(14, State(3)),
        new RestoreState(0, null),
        new StateRestored(3, 14),
        new Mix(12, Snapshot(3), 0.99, null),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3)),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3), Statistics(3)),
        new Finish(40),
        new MemberFinal(1, Snapshot(5), 0.9, 0.91, [1.5f, -2, float.MaxValue, float.Epsilon]),
        new EvaluateWeights(7, Snapshot(6), RecomputeBatchNorm: true, OnHeldOut: true, Test: null, ReturnWeights: true),
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

    /// <summary>Compares every public property; arrays and snapshots by content.</summary>
    public static void AssertSame(object expected, object actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        foreach (var property in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"))
        {
            var (e, a) = (property.GetValue(expected), property.GetValue(actual));
            switch (e)
            {
                case WeightSnapshot snapshot:
                    var other = Assert.IsType<WeightSnapshot>(a);
                    Assert.Equal(snapshot.Layout.Fingerprint, other.Layout.Fingerprint);
                    Assert.Equal(snapshot.Values, other.Values);
                    break;
                case MemberState state:
                    AssertSame(state, Assert.IsType<MemberState>(a));
                    break;
                case ActivationStatistics statistics:
                    var received = Assert.IsType<ActivationStatistics>(a);
                    Assert.Equal(statistics.Layers.Select(l => l.Layer), received.Layers.Select(l => l.Layer));
                    Assert.Equal(statistics.Layers.SelectMany(l => l.Mean.Concat(l.Std)), received.Layers.SelectMany(l => l.Mean.Concat(l.Std)));
                    break;
                case float[] floats:
                    Assert.Equal(floats, Assert.IsType<float[]>(a));
                    break;
                case byte[] bytes:
                    Assert.Equal(bytes, Assert.IsType<byte[]>(a));
                    break;
                default:
                    Assert.Equal(e, a);
                    break;
            }
        }
    }
}
