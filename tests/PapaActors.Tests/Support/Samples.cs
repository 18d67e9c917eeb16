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

    /// <summary>Features of 3 images, 2 each.</summary>
    public static FeatureMatrix Features(int seed) => new(3, 2, [.. Enumerable.Range(0, 6).Select(i => seed + i / 4f)]);

    public static IReadOnlyList<object> AllWireMessages(IActorRef actor) =>
    [
        new RegisterMember(3, actor, "a1b2c3d4e5f60718", actor),
        new RegisterMember(3, actor, "a1b2c3d4e5f60718", actor, Proof: new SecretProof("00FF", "ABCD")),
        new SecretChallenge("0123456789ABCDEF"),
        new RunConfigRefused("wrong run secret"),
        new MemberAccepted(3),
        new MemberRejected(9, "member index 9 is outside the population 0..3"),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: false),
        new Train(12, 10, SendSnapshot: true, EvaluateHeldOut: true, MeasureRepairStatistics: true, Attempt: 1L << 40, AheadSteps: 5),
        new Train(12, 10, SendSnapshot: false, EvaluateHeldOut: true, FeatureImages: 256),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2)),
        new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Snapshot(2), Statistics(2), WaitSeconds: 0.125, MixSeconds: 0.0625),
        new Trained(2, 13, 140, double.NaN, 0.049, 1280, 0.8, null, null, Finite: false),
        new Trained(2, 13, 140, 0.5, 0.049, 1280, 0.8, 0.5, null, Features: Features(3)),
        new CaptureState(14),
        new StateCaptured(14, State(2)),
        new RestoreState(14, State(3), Attempt: 5),
        new RestoreState(0, null),
        new StateRestored(3, 14),
        new Mix(12, Snapshot(3), 0.99, null),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3)),
        new Mix(13, Snapshot(4), 0, new ParentPair(1, 3), Statistics(3), Attempt: 7),
        new Mix(13, Snapshot(4), 0, null, Statistics(3), Attempt: 7, MeasureGain: true),
        new MixEvaluated(2, 13, 7, 0.8125, 0.875),
        new MixEvaluated(2, 13, 7, double.NaN, 0),
        new CombineRound(7, 13, [0, 2], Sum: true, [], [], []),
        new CombineRound(7, 13, [1, 3], Sum: false, [3], [new ParentPair(1, 3)], [new ParentPair(1, 3)]),
        new NodeTrained(7, 13, [new Trained(1, 13, 140, 0.5, 0.05, 1280, 0.8, null, null, Statistics(1), Attempt: 7)], PartialSum.Of([Snapshot(1)]),
            ImmutableDictionary<int, WeightSnapshot>.Empty, ImmutableDictionary<ParentPair, WeightSnapshot>.Empty),
        new NodeTrained(7, 13, [], new PartialSum(Snapshot().Layout, 3, [double.NaN, 1e300, 0.1, 1, 2, 3, 4, 5, 6], ImmutableDictionary<int, ImmutableArray<double>>.Empty.Add(0, [1e30, 1e-30, -1])),
            ImmutableDictionary<int, WeightSnapshot>.Empty.Add(3, Snapshot(3)), ImmutableDictionary<ParentPair, WeightSnapshot>.Empty.Add(new ParentPair(0, 1), Snapshot(8))),
        new NodeMix(7, 13, Snapshot(2), [new MemberMix(0, 0.99, null, null), new MemberMix(2, 0.99, null, Statistics(2))], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty),
        new NodeMix(7, 13, null, [new MemberMix(1, 0, new ParentPair(3, 1), null)], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty.Add(new ParentPair(1, 3), Snapshot(9))),
        new NodeMix(7, 13, Snapshot(2), [new MemberMix(0, 0, null, null)], ImmutableDictionary<ParentPair, WeightSnapshot>.Empty, MeasureGain: true),
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
        new RequestRunConfig("akka.tcp://papa@10.0.0.2:4055", Proof: new SecretProof("00FF", "ABCD")),
        new RunConfigText("papa.method = \"papa\"\npapa.population = \"4\"\n"),
        new RequestMissingMembers("akka.tcp://papa@10.0.0.3:4056", [2, 3]),
        new RequestMissingMembers("akka.tcp://papa@10.0.0.3:4056", null),
        new MissingMembers([1]),
        new MissingMembers([]),
        new StreamedMessage(99, 37_000_000, "mix"),
        new StreamTransferFailed(99, "could not connect to 10.0.0.2:41234 within 60 s"),
        new StreamPortRequest(),
        new StreamPort(41234, 2L << 30),
    ];

    /// <summary>
    /// A <paramref name="type"/> built by reflection through its widest constructor, every parameter given a value of its
    /// own that is not its default (nested records likewise): a field the wire drops or swaps reads back different.
    /// </summary>
    public static object WithDistinctValues(Type type, IActorRef actor)
    {
        var seed = 0;
        return Build(type, actor, ref seed);
    }

    private static object Build(Type type, IActorRef actor, ref int seed)
    {
        var constructor = type.GetConstructors().MaxBy(c => c.GetParameters().Length)
            ?? throw new InvalidOperationException($"{type.Name} has no public constructor");
        var parameters = constructor.GetParameters();
        var arguments = new object[parameters.Length];
        // A message of another protocol version is read only as far as its version: its other fields would not survive.
        for (var i = 0; i < parameters.Length; i++)
            arguments[i] = parameters[i].Name == nameof(RegisterMember.ProtocolVersion) ? WireProtocol.Version : DistinctValue(parameters[i].ParameterType, actor, ref seed);
        return constructor.Invoke(arguments);
    }

    private static object DistinctValue(Type type, IActorRef actor, ref int seed)
    {
        var n = ++seed;
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int)) return n;
        if (type == typeof(long)) return (1L << 40) + n;
        if (type == typeof(double)) return n + 0.125;
        if (type == typeof(bool)) return true;
        if (type == typeof(string)) return $"text {n}";
        if (type == typeof(ImmutableArray<float>)) return ImmutableArray.Create(n, -0.5f);
        if (type == typeof(IActorRef)) return actor;
        if (type == typeof(WeightSnapshot)) return Snapshot(n);
        if (type == typeof(MemberState)) return State(n);
        if (type == typeof(ActivationStatistics)) return Statistics(n);
        if (type == typeof(FeatureMatrix)) return Features(n);
        if (type == typeof(PartialSum)) return PartialSum.Of([Snapshot(n)]);
        if (type == typeof(ParentPair)) return new ParentPair(n, n + 1);
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ImmutableArray<>))
        {
            var item = DistinctValue(type.GenericTypeArguments[0], actor, ref seed);
            var array = Array.CreateInstance(type.GenericTypeArguments[0], 1);
            array.SetValue(item, 0);
            return typeof(ImmutableArray).GetMethods().Single(m => m.Name == nameof(ImmutableArray.Create) && m.GetParameters() is [{ ParameterType.IsArray: true }])
                .MakeGenericMethod(type.GenericTypeArguments).Invoke(null, [array])!;
        }
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ImmutableDictionary<,>))
        {
            var key = DistinctValue(type.GenericTypeArguments[0], actor, ref seed);
            var value = DistinctValue(type.GenericTypeArguments[1], actor, ref seed);
            var empty = type.GetField(nameof(ImmutableDictionary<int, int>.Empty))!.GetValue(null)!;
            return type.GetMethod(nameof(ImmutableDictionary<int, int>.Add))!.Invoke(empty, [key, value])!;
        }
        if (type.Namespace?.StartsWith("PapaActors", StringComparison.Ordinal) == true && !type.IsAbstract)
            return Build(type, actor, ref seed);
        throw new NotSupportedException($"no distinct sample value for a {type.Name} parameter: add one to Samples.DistinctValue");
    }

    public static IEnumerable<Type> WireMessageTypes() =>
        typeof(IPapaMessage).Assembly.GetTypes().Where(t => typeof(IPapaMessage).IsAssignableFrom(t) && !t.IsInterface);

    /// <summary>Compares every public property; arrays, lists, dictionaries and snapshots by content.</summary>
    public static void AssertSame(object expected, object actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        foreach (var property in expected.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.Name != "EqualityContract"))
        {
            try
            {
                Same(property.GetValue(expected), property.GetValue(actual));
            }
            catch (Xunit.Sdk.XunitException e)
            {
                throw new Xunit.Sdk.XunitException($"{expected.GetType().Name}.{property.Name}: {e.Message}");
            }
        }
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
            case not null when !e.GetType().IsValueType && e.GetType().Namespace?.StartsWith("PapaActors", StringComparison.Ordinal) == true:
                AssertSame(e, a!);
                break;
            default:
                Assert.Equal(e, a);
                break;
        }
    }
}
