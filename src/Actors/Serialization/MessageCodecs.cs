using System.Collections.Immutable;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Serialization;

/// <summary>
/// How one message type travels: its manifest, how it is written and read (field by field, in one place), and how
/// many bytes its weights take (so <see cref="PapaSerializer.ToBinary"/> sizes its buffer once).
/// </summary>
internal abstract class MessageCodec(Type type, string manifest)
{
    public Type Type => type;

    public string Manifest => manifest;

    public abstract void Write(BinaryWriter w, object message);

    public abstract object Read(WireReader r);

    /// <summary>The bytes of the arrays the message carries (0 for small messages); the fixed fields are not counted.</summary>
    public abstract long ArrayBytes(object message);
}

internal sealed class MessageCodec<T>(string manifest, Action<BinaryWriter, T> write, Func<WireReader, T> read, Func<T, long>? arrayBytes = null)
    : MessageCodec(typeof(T), manifest) where T : IPapaMessage
{
    public override void Write(BinaryWriter w, object message) => write(w, (T)message);

    public override object Read(WireReader r) => read(r)!;

    public override long ArrayBytes(object message) => arrayBytes?.Invoke((T)message) ?? 0;
}

/// <summary>A BinaryReader that also resolves the actor references a message names.</summary>
internal sealed class WireReader(Stream stream, ExtendedActorSystem system) : BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true)
{
    public IActorRef ReadRef() => system.Provider.ResolveActorRef(ReadString());
}

/// <summary>
/// The one definition of every message's encoding. Arguments are read left to right, in the order they were written;
/// a field added to a message must be added here, or the reflection round-trip test fails, and any change of an
/// encoding bumps <see cref="WireProtocol.Version"/>. The messages a node sends first ("register", "config?") start
/// with that version, and a reader of another version reads no further: so the node is refused, never misread.
/// </summary>
internal static class MessageCodecs
{
    public static readonly IReadOnlyList<MessageCodec> All =
    [
        Codec<RegisterMember>("register",
            (w, m) =>
            {
                w.Write(m.ProtocolVersion);
                w.Write(m.Index);
                WriteRef(w, m.Member);
                w.Write(m.LayoutFingerprint);
                WriteRef(w, m.Reducer);
                WriteProof(w, m.Proof);
            },
            r => r.ReadInt32() is var version && version != WireProtocol.Version
                ? new(-1, ActorRefs.Nobody, SkipRest(r), ActorRefs.Nobody, version)
                : new(r.ReadInt32(), r.ReadRef(), r.ReadString(), r.ReadRef(), version, ReadProof(r))),
        Codec<MemberAccepted>("accepted", (w, m) => w.Write(m.Index), r => new(r.ReadInt32())),
        Codec<MemberRejected>("rejected", (w, m) => { w.Write(m.Index); w.Write(m.Reason); }, r => new(r.ReadInt32(), r.ReadString())),
        Codec<Train>("train",
            (w, m) =>
            {
                w.Write(m.Round); w.Write(m.Steps); w.Write(m.SendSnapshot); w.Write(m.EvaluateHeldOut); w.Write(m.MeasureRepairStatistics);
                w.Write(m.Attempt); w.Write(m.AheadSteps); w.Write(m.FeatureImages);
            },
            r => new(r.ReadInt32(), r.ReadInt32(), r.ReadBoolean(), r.ReadBoolean(), r.ReadBoolean(), r.ReadInt64(), r.ReadInt32(), r.ReadInt32())),
        Codec<Trained>("trained", WriteTrained, ReadTrained, m => SizeOf(m.Snapshot) + SizeOf(m.Features)),
        Codec<Mix>("mix",
            (w, m) =>
            {
                w.Write(m.Round); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.Keep); WriteOptionalPair(w, m.Parents);
                WireFormat.WriteStatistics(w, m.RepairTargets); w.Write(m.Attempt); w.Write(m.MeasureGain);
            },
            r => new(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadDouble(), ReadOptionalPair(r), WireFormat.ReadStatistics(r), r.ReadInt64(), r.ReadBoolean()),
            m => SizeOf(m.Weights)),
        Codec<MixEvaluated>("mix-evaluated",
            (w, m) => { w.Write(m.Member); w.Write(m.Round); w.Write(m.Attempt); w.Write(m.HeldOutBefore); w.Write(m.HeldOutAfter); },
            r => new(r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadDouble(), r.ReadDouble())),
        Codec<CombineRound>("combine",
            (w, m) =>
            {
                w.Write(m.Attempt); w.Write(m.Round); WriteIndices(w, m.Members); w.Write(m.Sum); WriteIndices(w, m.UploadSnapshots);
                WritePairs(w, m.FormChildren); WritePairs(w, m.UploadChildren);
            },
            r => new(r.ReadInt64(), r.ReadInt32(), ReadIndices(r), r.ReadBoolean(), ReadIndices(r), ReadPairs(r), ReadPairs(r))),
        Codec<NodeTrained>("node-trained",
            (w, m) =>
            {
                w.Write(m.Attempt); w.Write(m.Round);
                w.Write(m.Reports.Length);
                foreach (var report in m.Reports)
                    WriteTrained(w, report);
                w.Write(m.Sum is not null);
                if (m.Sum is not null)
                    WireFormat.WritePartialSum(w, m.Sum);
                var members = m.Snapshots.Keys.Order().ToList();
                WriteIndices(w, members);
                foreach (var member in members)
                    WireFormat.WriteSnapshot(w, m.Snapshots[member]);
                WriteChildren(w, m.Children);
            },
            r => new(r.ReadInt64(), r.ReadInt32(), ReadList(r, ReadTrained), r.ReadBoolean() ? WireFormat.ReadPartialSum(r) : null,
                ReadIndices(r).ToImmutableDictionary(m => m, _ => WireFormat.ReadSnapshot(r)), ReadChildren(r)),
            m => (m.Sum is null ? 0 : sizeof(double) * m.Sum.Sums.Length) + m.Snapshots.Values.Concat(m.Children.Values).Sum(SizeOf) + m.Reports.Sum(t => SizeOf(t.Features))),
        Codec<NodeMix>("node-mix",
            (w, m) =>
            {
                w.Write(m.Attempt); w.Write(m.Round); WriteOptionalSnapshot(w, m.Mean);
                w.Write(m.Members.Length);
                foreach (var member in m.Members)
                {
                    w.Write(member.Member); w.Write(member.Keep); WriteOptionalPair(w, member.Parents); WireFormat.WriteStatistics(w, member.RepairTargets);
                }
                WriteChildren(w, m.Children); w.Write(m.MeasureGain);
            },
            r => new(r.ReadInt64(), r.ReadInt32(), ReadOptionalSnapshot(r),
                ReadList(r, r => new MemberMix(r.ReadInt32(), r.ReadDouble(), ReadOptionalPair(r), WireFormat.ReadStatistics(r))), ReadChildren(r), r.ReadBoolean()),
            m => SizeOf(m.Mean) + m.Children.Values.Sum(SizeOf)),
        Codec<CaptureState>("capture", (w, m) => w.Write(m.Round), r => new(r.ReadInt32())),
        Codec<StateCaptured>("captured",
            (w, m) => { w.Write(m.Round); WireFormat.WriteMemberState(w, m.State); },
            r => new(r.ReadInt32(), WireFormat.ReadMemberState(r)),
            m => SizeOf(m.State.Weights) + SizeOf(m.State.Optimizer)),
        Codec<RestoreState>("restore",
            (w, m) =>
            {
                w.Write(m.Round); w.Write(m.State is not null);
                if (m.State is not null)
                    WireFormat.WriteMemberState(w, m.State);
                w.Write(m.Attempt);
            },
            r => new(r.ReadInt32(), r.ReadBoolean() ? WireFormat.ReadMemberState(r) : null, r.ReadInt64()),
            m => SizeOf(m.State?.Weights) + SizeOf(m.State?.Optimizer)),
        Codec<StateRestored>("restored", (w, m) => { w.Write(m.Member); w.Write(m.Round); }, r => new(r.ReadInt32(), r.ReadInt32())),
        Codec<Finish>("finish", (w, m) => w.Write(m.Round), r => new(r.ReadInt32())),
        Codec<MemberFinal>("final",
            (w, m) =>
            {
                w.Write(m.Member); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.TestAccuracy); w.Write(m.HeldOutAccuracy);
                WireFormat.WriteFloats(w, m.TestLogits); WireFormat.WriteStatistics(w, m.RepairStatistics);
            },
            r => new(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadDouble(), r.ReadDouble(), WireFormat.ReadFloats(r), WireFormat.ReadStatistics(r)),
            m => SizeOf(m.Weights) + sizeof(float) * m.TestLogits.Length),
        Codec<EvaluateWeights>("evaluate",
            (w, m) =>
            {
                w.Write(m.RequestId); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.RecomputeBatchNorm); w.Write(m.OnHeldOut);
                w.Write(m.Test is not null);
                if (m.Test is not null)
                {
                    w.Write(m.Test.Part); w.Write(m.Test.Parts);
                }
                w.Write(m.ReturnWeights); WireFormat.WriteStatistics(w, m.RepairTargets);
            },
            r => new(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadBoolean(), r.ReadBoolean(),
                r.ReadBoolean() ? new TestSlice(r.ReadInt32(), r.ReadInt32()) : null, r.ReadBoolean(), WireFormat.ReadStatistics(r)),
            m => SizeOf(m.Weights)),
        Codec<WeightsEvaluated>("evaluated",
            (w, m) => { w.Write(m.RequestId); WriteOptional(w, m.HeldOutAccuracy); w.Write(m.TestCorrect); w.Write(m.TestCount); WriteOptionalSnapshot(w, m.Weights); },
            r => new(r.ReadInt32(), ReadOptional(r), r.ReadInt64(), r.ReadInt64(), ReadOptionalSnapshot(r)),
            m => SizeOf(m.Weights)),
        Codec<MemberFailed>("failed", (w, m) => { w.Write(m.Member); w.Write(m.Reason); w.Write(m.Restarting); },
            r => new(r.ReadInt32(), r.ReadString(), r.ReadBoolean())),
        Codec<RunEnded>("ended", (w, m) => { w.Write(m.Completed); w.Write(m.Summary); }, r => new(r.ReadBoolean(), r.ReadString())),
        Codec<RequestRunConfig>("config?", (w, m) => { w.Write(m.ProtocolVersion); w.Write(m.Node); WriteProof(w, m.Proof); },
            r => r.ReadInt32() is var version && version != WireProtocol.Version ? new(SkipRest(r), version) : new(r.ReadString(), version, ReadProof(r))),
        Codec<RunConfigRefused>("config-refused", (w, m) => w.Write(m.Reason), r => new(r.ReadString())),
        Codec<SecretChallenge>("challenge", (w, m) => w.Write(m.Nonce), r => new(r.ReadString())),
        Codec<RunConfigText>("config", (w, m) => w.Write(m.Hocon), r => new(r.ReadString())),
        Codec<RequestMissingMembers>("missing?",
            (w, m) =>
            {
                w.Write(m.Node); w.Write(m.Wanted is not null);
                if (m.Wanted is { } wanted)
                    WriteIndices(w, wanted);
            },
            r => new(r.ReadString(), r.ReadBoolean() ? ReadIndices(r) : null)),
        Codec<MissingMembers>("missing", (w, m) => WriteIndices(w, m.Indices), r => new(ReadIndices(r))),
        Codec<StreamedMessage>("streamed", (w, m) => { w.Write(m.TransferId); w.Write(m.TotalBytes); w.Write(m.Manifest); },
            r => new(r.ReadInt64(), r.ReadInt64(), r.ReadString())),
        Codec<StreamTransferFailed>("stream-failed", (w, m) => { w.Write(m.TransferId); w.Write(m.Reason); }, r => new(r.ReadInt64(), r.ReadString())),
        Codec<StreamPortRequest>("stream-port?", (_, _) => { }, _ => new()),
        Codec<StreamPort>("stream-port", (w, m) => { w.Write(m.Port); w.Write(m.MaxMessageBytes); }, r => new(r.ReadInt32(), r.ReadInt64())),
    ];

    private static MessageCodec<T> Codec<T>(string manifest, Action<BinaryWriter, T> write, Func<WireReader, T> read, Func<T, long>? arrayBytes = null)
        where T : IPapaMessage => new(manifest, write, read, arrayBytes);

    private static long SizeOf(WeightSnapshot? snapshot) => snapshot is null ? 0 : sizeof(float) * snapshot.Values.Length + 64 * snapshot.Layout.Entries.Count;

    private static long SizeOf(FeatureMatrix? features) => features is null ? 0 : sizeof(float) * features.Values.Length;

    private static void WriteTrained(BinaryWriter w, Trained m)
    {
        w.Write(m.Member); w.Write(m.Round); w.Write(m.Step); w.Write(m.Loss); w.Write(m.LearningRate);
        w.Write(m.Samples); w.Write(m.Seconds); WriteOptional(w, m.HeldOutAccuracy); WriteOptionalSnapshot(w, m.Snapshot);
        WireFormat.WriteStatistics(w, m.RepairStatistics); w.Write(m.Finite); w.Write(m.WaitSeconds); w.Write(m.MixSeconds); w.Write(m.Attempt);
        w.Write(m.Features is not null);
        if (m.Features is { } features)
        {
            w.Write(features.Rows); w.Write(features.Columns); WireFormat.WriteFloats(w, features.Values);
        }
    }

    private static Trained ReadTrained(BinaryReader r) =>
        new(r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadInt64(), r.ReadDouble(), ReadOptional(r),
            ReadOptionalSnapshot(r), WireFormat.ReadStatistics(r), r.ReadBoolean(), r.ReadDouble(), r.ReadDouble(), r.ReadInt64(),
            r.ReadBoolean() ? ReadFeatures(r) : null);

    /// <summary>Rows and columns must describe the values that came: a matrix that does not is corrupt.</summary>
    private static FeatureMatrix ReadFeatures(BinaryReader r)
    {
        var (rows, columns, values) = (r.ReadInt32(), r.ReadInt32(), WireFormat.ReadFloats(r));
        return rows >= 0 && columns >= 0 && (long)rows * columns == values.Length ? new FeatureMatrix(rows, columns, values)
            : throw new IOException($"a feature matrix of {rows} x {columns} with {values.Length} values");
    }

    /// <summary>A count, then that many items; a count the remaining bytes cannot hold is corrupt.</summary>
    private static ImmutableArray<T> ReadList<T>(BinaryReader r, Func<BinaryReader, T> read)
    {
        var count = r.ReadInt32();
        if (count < 0 || count > r.BaseStream.Length - r.BaseStream.Position)
            throw new IOException($"{count} items in a message of {r.BaseStream.Length} bytes");
        var items = ImmutableArray.CreateBuilder<T>(); // not sized by the count: that is the sender's claim, the items are what came
        for (var i = 0; i < count; i++)
            items.Add(read(r));
        return items.ToImmutable();
    }

    private static void WriteOptionalPair(BinaryWriter w, ParentPair? pair)
    {
        w.Write(pair.HasValue);
        if (pair is { } p)
        {
            w.Write(p.First); w.Write(p.Second);
        }
    }

    private static ParentPair? ReadOptionalPair(BinaryReader r) => r.ReadBoolean() ? new ParentPair(r.ReadInt32(), r.ReadInt32()) : null;

    private static void WritePairs(BinaryWriter w, IReadOnlyList<ParentPair> pairs)
    {
        w.Write(pairs.Count);
        foreach (var pair in pairs)
        {
            w.Write(pair.First); w.Write(pair.Second);
        }
    }

    private static ImmutableArray<ParentPair> ReadPairs(BinaryReader r) => ReadList(r, r => new ParentPair(r.ReadInt32(), r.ReadInt32()));

    private static void WriteChildren(BinaryWriter w, IReadOnlyDictionary<ParentPair, WeightSnapshot> children)
    {
        var pairs = children.Keys.OrderBy(p => (p.First, p.Second)).ToList();
        WritePairs(w, pairs);
        foreach (var pair in pairs)
            WireFormat.WriteSnapshot(w, children[pair]);
    }

    private static ImmutableDictionary<ParentPair, WeightSnapshot> ReadChildren(BinaryReader r) => ReadPairs(r).ToImmutableDictionary(p => p, _ => WireFormat.ReadSnapshot(r));

    /// <summary>Skips what a node of another protocol version wrote after its version; stands in for the text fields it had.</summary>
    private static string SkipRest(BinaryReader r)
    {
        r.BaseStream.Position = r.BaseStream.Length;
        return "";
    }

    private static void WriteProof(BinaryWriter w, SecretProof? proof)
    {
        w.Write(proof is not null);
        if (proof is null)
            return;
        w.Write(proof.Nonce);
        w.Write(proof.Mac);
    }

    private static SecretProof? ReadProof(BinaryReader r) => r.ReadBoolean() ? new SecretProof(r.ReadString(), r.ReadString()) : null;

    private static void WriteRef(BinaryWriter w, IActorRef actor) => w.Write(Akka.Serialization.Serialization.SerializedActorPath(actor));

    private static void WriteIndices(BinaryWriter w, IReadOnlyList<int> indices)
    {
        w.Write(indices.Count);
        foreach (var index in indices)
            w.Write(index);
    }

    /// <summary>Written as <see cref="WriteIndices"/> writes them: the same bytes as an int array of <see cref="WireFormat"/>.</summary>
    private static ImmutableArray<int> ReadIndices(BinaryReader r) => WireFormat.ReadInts(r);

    private static void WriteOptional(BinaryWriter w, double? value)
    {
        w.Write(value.HasValue);
        if (value is { } v)
            w.Write(v);
    }

    private static double? ReadOptional(BinaryReader r) => r.ReadBoolean() ? r.ReadDouble() : null;

    private static void WriteOptionalSnapshot(BinaryWriter w, WeightSnapshot? snapshot)
    {
        w.Write(snapshot is not null);
        if (snapshot is not null)
            WireFormat.WriteSnapshot(w, snapshot);
    }

    private static WeightSnapshot? ReadOptionalSnapshot(BinaryReader r) => r.ReadBoolean() ? WireFormat.ReadSnapshot(r) : null;
}
