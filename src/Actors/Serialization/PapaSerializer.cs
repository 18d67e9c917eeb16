using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Serialization;

/// <summary>
/// Binary serializer for every <see cref="IPapaMessage"/>. Weights and logits are written as raw
/// little-endian float32 (Akka's default JSON serializer would turn each float into text, ~3x larger and
/// slow); everything else is a compact BinaryWriter record. Hand-written because no schema library here
/// writes float arrays as raw bytes without generated code.
/// </summary>
public sealed class PapaSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 7101;

    private static readonly Dictionary<Type, string> Manifests = new()
    {
        [typeof(RegisterMember)] = "register",
        [typeof(MemberAccepted)] = "accepted",
        [typeof(MemberRejected)] = "rejected",
        [typeof(Train)] = "train",
        [typeof(Trained)] = "trained",
        [typeof(Mix)] = "mix",
        [typeof(CombineRound)] = "combine",
        [typeof(NodeTrained)] = "node-trained",
        [typeof(NodeMix)] = "node-mix",
        [typeof(CaptureState)] = "capture",
        [typeof(StateCaptured)] = "captured",
        [typeof(RestoreState)] = "restore",
        [typeof(StateRestored)] = "restored",
        [typeof(Finish)] = "finish",
        [typeof(MemberFinal)] = "final",
        [typeof(EvaluateWeights)] = "evaluate",
        [typeof(WeightsEvaluated)] = "evaluated",
        [typeof(MemberFailed)] = "failed",
        [typeof(RunEnded)] = "ended",
        [typeof(RequestRunConfig)] = "config?",
        [typeof(RunConfigText)] = "config",
        [typeof(RequestMissingMembers)] = "missing?",
        [typeof(MissingMembers)] = "missing",
        [typeof(MessageChunk)] = "chunk",
        [typeof(StreamedMessage)] = "streamed",
        [typeof(StreamTransferFailed)] = "stream-failed",
        [typeof(StreamPortRequest)] = "stream-port?",
        [typeof(StreamPort)] = "stream-port",
    };

    private static readonly HashSet<string> KnownManifests = [.. Manifests.Values];

    public override int Identifier => Id;

    public static IEnumerable<Type> SupportedTypes => Manifests.Keys;

    public static bool IsKnownManifest(string manifest) => KnownManifests.Contains(manifest);

    public override string Manifest(object o) =>
        Manifests.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new SerializationException($"PapaSerializer cannot serialize {o.GetType().FullName}: add it to the serializer");

    public override byte[] ToBinary(object obj)
    {
        // Sized up front: growing a MemoryStream to tens of MB copies the weights several times over.
        using var stream = new MemoryStream(EstimatedSize(obj));
        Write(stream, obj);
        return stream.ToArray();
    }

    /// <summary>The number of bytes <see cref="Write"/> writes for <paramref name="obj"/>, without copying any data.</summary>
    public long SizeOf(object obj)
    {
        using var counter = new CountingStream();
        Write(counter, obj);
        return counter.Length;
    }

    /// <summary>Writes <paramref name="obj"/> straight into <paramref name="stream"/> (weights included, no intermediate buffer).</summary>
    public void Write(Stream stream, object obj)
    {
        using (var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            switch (obj)
            {
                case RegisterMember m: w.Write(m.Index); WriteRef(w, m.Member); w.Write(m.LayoutFingerprint); WriteRef(w, m.Reducer); break;
                case MemberAccepted m: w.Write(m.Index); break;
                case MemberRejected m: w.Write(m.Index); w.Write(m.Reason); break;
                case Train m:
                    w.Write(m.Round); w.Write(m.Steps); w.Write(m.SendSnapshot); w.Write(m.EvaluateHeldOut); w.Write(m.MeasureRepairStatistics); w.Write(m.Attempt); w.Write(m.AheadSteps);
                    break;
                case Trained m: WriteTrained(w, m); break;
                case Mix m:
                    w.Write(m.Round); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.Keep); WriteOptionalPair(w, m.Parents);
                    WireFormat.WriteStatistics(w, m.RepairTargets); w.Write(m.Attempt);
                    break;
                case CombineRound m:
                    w.Write(m.Attempt); w.Write(m.Round); WriteIndices(w, m.Members); w.Write(m.Sum); WriteIndices(w, m.UploadSnapshots);
                    WritePairs(w, m.FormChildren); WritePairs(w, m.UploadChildren);
                    break;
                case NodeTrained m:
                    w.Write(m.Attempt); w.Write(m.Round);
                    w.Write(m.Reports.Length);
                    foreach (var report in m.Reports) WriteTrained(w, report);
                    w.Write(m.Sum is not null);
                    if (m.Sum is not null) WireFormat.WritePartialSum(w, m.Sum);
                    WriteIndices(w, m.Snapshots.Keys.Order().ToList());
                    foreach (var member in m.Snapshots.Keys.Order()) WireFormat.WriteSnapshot(w, m.Snapshots[member]);
                    WriteChildren(w, m.Children);
                    break;
                case NodeMix m:
                    w.Write(m.Attempt); w.Write(m.Round); WriteOptionalSnapshot(w, m.Mean);
                    w.Write(m.Members.Length);
                    foreach (var member in m.Members)
                    {
                        w.Write(member.Member); w.Write(member.Keep); WriteOptionalPair(w, member.Parents); WireFormat.WriteStatistics(w, member.RepairTargets);
                    }
                    WriteChildren(w, m.Children);
                    break;
                case CaptureState m: w.Write(m.Round); break;
                case StateCaptured m: w.Write(m.Round); WireFormat.WriteMemberState(w, m.State); break;
                case RestoreState m:
                    w.Write(m.Round); w.Write(m.State is not null);
                    if (m.State is not null) WireFormat.WriteMemberState(w, m.State);
                    w.Write(m.Attempt);
                    break;
                case StateRestored m: w.Write(m.Member); w.Write(m.Round); break;
                case Finish m: w.Write(m.Round); break;
                case MemberFinal m:
                    w.Write(m.Member); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.TestAccuracy); w.Write(m.HeldOutAccuracy);
                    WireFormat.WriteFloats(w, m.TestLogits); WireFormat.WriteStatistics(w, m.RepairStatistics);
                    break;
                case EvaluateWeights m:
                    w.Write(m.RequestId); WireFormat.WriteSnapshot(w, m.Weights); w.Write(m.RecomputeBatchNorm); w.Write(m.OnHeldOut);
                    w.Write(m.Test is not null);
                    if (m.Test is not null) { w.Write(m.Test.Part); w.Write(m.Test.Parts); }
                    w.Write(m.ReturnWeights); WireFormat.WriteStatistics(w, m.RepairTargets);
                    break;
                case WeightsEvaluated m:
                    w.Write(m.RequestId); WriteOptional(w, m.HeldOutAccuracy); w.Write(m.TestCorrect); w.Write(m.TestCount); WriteOptionalSnapshot(w, m.Weights);
                    break;
                case MemberFailed m: w.Write(m.Member); w.Write(m.Reason); w.Write(m.Restarting); break;
                case RunEnded m: w.Write(m.Completed); w.Write(m.Summary); break;
                case RequestRunConfig m: w.Write(m.Node); break;
                case RunConfigText m: w.Write(m.Hocon); break;
                case RequestMissingMembers m:
                    w.Write(m.Node);
                    w.Write(m.Wanted is not null);
                    if (m.Wanted is { } wanted)
                        WriteIndices(w, wanted);
                    break;
                case MissingMembers m: WriteIndices(w, m.Indices); break;
                case MessageChunk m:
                    w.Write(m.TransferId); w.Write(m.Index); w.Write(m.Count); w.Write(m.TotalBytes); w.Write(m.Checksum);
                    w.Write(m.SerializerId); w.Write(m.Manifest); w.Write(m.Data.Length); w.Write(m.Data);
                    break;
                case StreamedMessage m: w.Write(m.TransferId); w.Write(m.TotalBytes); w.Write(m.Manifest); break;
                case StreamTransferFailed m: w.Write(m.TransferId); w.Write(m.Reason); break;
                case StreamPortRequest: break;
                case StreamPort m: w.Write(m.Port); w.Write(m.MaxMessageBytes); break;
                default:
                    throw new SerializationException($"PapaSerializer cannot serialize {obj.GetType().FullName}: add it to the serializer");
            }
        }
    }

    public override object FromBinary(byte[] bytes, string manifest) => Read(new MemoryStream(bytes, writable: false), manifest);

    /// <summary>
    /// Reads one <paramref name="manifest"/> message that fills <paramref name="stream"/> exactly, from its position to
    /// its Length (every array length is checked against what is left before it is allocated).
    /// </summary>
    public object Read(Stream stream, string manifest)
    {
        try
        {
            using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
            object message = manifest switch
            {
                "register" => new RegisterMember(r.ReadInt32(), ReadRef(r), r.ReadString(), ReadRef(r)),
                "accepted" => new MemberAccepted(r.ReadInt32()),
                "rejected" => new MemberRejected(r.ReadInt32(), r.ReadString()),
                "train" => new Train(r.ReadInt32(), r.ReadInt32(), r.ReadBoolean(), r.ReadBoolean(), r.ReadBoolean(), r.ReadInt64(), r.ReadInt32()),
                "trained" => ReadTrained(r),
                "mix" => new Mix(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadDouble(), ReadOptionalPair(r), WireFormat.ReadStatistics(r), r.ReadInt64()),
                "combine" => new CombineRound(r.ReadInt64(), r.ReadInt32(), ReadIndices(r), r.ReadBoolean(), ReadIndices(r), ReadPairs(r), ReadPairs(r)),
                "node-trained" => new NodeTrained(r.ReadInt64(), r.ReadInt32(), ReadList(r, ReadTrained), r.ReadBoolean() ? WireFormat.ReadPartialSum(r) : null,
                    ReadIndices(r).ToImmutableDictionary(m => m, _ => WireFormat.ReadSnapshot(r)), ReadChildren(r)),
                "node-mix" => new NodeMix(r.ReadInt64(), r.ReadInt32(), ReadOptionalSnapshot(r),
                    ReadList(r, r => new MemberMix(r.ReadInt32(), r.ReadDouble(), ReadOptionalPair(r), WireFormat.ReadStatistics(r))), ReadChildren(r)),
                "capture" => new CaptureState(r.ReadInt32()),
                "captured" => new StateCaptured(r.ReadInt32(), WireFormat.ReadMemberState(r)),
                "restore" => new RestoreState(r.ReadInt32(), r.ReadBoolean() ? WireFormat.ReadMemberState(r) : null, r.ReadInt64()),
                "restored" => new StateRestored(r.ReadInt32(), r.ReadInt32()),
                "finish" => new Finish(r.ReadInt32()),
                "final" => new MemberFinal(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadDouble(), r.ReadDouble(), WireFormat.ReadFloats(r), WireFormat.ReadStatistics(r)),
                "evaluate" => new EvaluateWeights(r.ReadInt32(), WireFormat.ReadSnapshot(r), r.ReadBoolean(), r.ReadBoolean(),
                    r.ReadBoolean() ? new TestSlice(r.ReadInt32(), r.ReadInt32()) : null, r.ReadBoolean(), WireFormat.ReadStatistics(r)),
                "evaluated" => new WeightsEvaluated(r.ReadInt32(), ReadOptional(r), r.ReadInt64(), r.ReadInt64(), ReadOptionalSnapshot(r)),
                "failed" => new MemberFailed(r.ReadInt32(), r.ReadString(), r.ReadBoolean()),
                "ended" => new RunEnded(r.ReadBoolean(), r.ReadString()),
                "config?" => new RequestRunConfig(r.ReadString()),
                "config" => new RunConfigText(r.ReadString()),
                "missing?" => new RequestMissingMembers(r.ReadString(), r.ReadBoolean() ? ReadIndices(r) : null),
                "missing" => new MissingMembers(ReadIndices(r)),
                "chunk" => new MessageChunk(r.ReadInt64(), r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadUInt32(),
                    r.ReadInt32(), r.ReadString(), ReadBytes(r)),
                "streamed" => new StreamedMessage(r.ReadInt64(), r.ReadInt64(), r.ReadString()),
                "stream-failed" => new StreamTransferFailed(r.ReadInt64(), r.ReadString()),
                "stream-port?" => new StreamPortRequest(),
                "stream-port" => new StreamPort(r.ReadInt32(), r.ReadInt64()),
                _ => throw new SerializationException($"unknown PapaSerializer manifest '{manifest}'"),
            };
            if (stream.Position != stream.Length)
                throw new SerializationException($"'{manifest}' message has {stream.Length - stream.Position} bytes past its end");
            return message;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or WeightLayoutException or ArgumentException)
        {
            throw new SerializationException($"corrupt '{manifest}' message ({stream.Length} bytes): {e.Message}", e);
        }
    }

    private static int EstimatedSize(object message)
    {
        static int Of(WeightSnapshot? s) => s is null ? 0 : 4 * s.Values.Length + 64 * s.Layout.Entries.Count;
        return 256 + message switch
        {
            Trained m => Of(m.Snapshot),
            StateCaptured m => Of(m.State.Weights) + Of(m.State.Optimizer),
            RestoreState m => Of(m.State?.Weights) + Of(m.State?.Optimizer),
            Mix m => Of(m.Weights),
            NodeTrained m => (m.Sum is null ? 0 : 8 * m.Sum.Sums.Length) + m.Snapshots.Values.Concat(m.Children.Values).Sum(Of),
            NodeMix m => Of(m.Mean) + m.Children.Values.Sum(Of),
            MemberFinal m => Of(m.Weights) + 4 * m.TestLogits.Length,
            EvaluateWeights m => Of(m.Weights),
            WeightsEvaluated m => Of(m.Weights),
            MessageChunk m => m.Data.Length + m.Manifest.Length,
            _ => 0,
        };
    }

    private static void WriteTrained(BinaryWriter w, Trained m)
    {
        w.Write(m.Member); w.Write(m.Round); w.Write(m.Step); w.Write(m.Loss); w.Write(m.LearningRate);
        w.Write(m.Samples); w.Write(m.Seconds); WriteOptional(w, m.HeldOutAccuracy); WriteOptionalSnapshot(w, m.Snapshot);
        WireFormat.WriteStatistics(w, m.RepairStatistics); w.Write(m.Finite); w.Write(m.WaitSeconds); w.Write(m.MixSeconds); w.Write(m.Attempt);
    }

    private static Trained ReadTrained(BinaryReader r) =>
        new(r.ReadInt32(), r.ReadInt32(), r.ReadInt64(), r.ReadDouble(), r.ReadDouble(), r.ReadInt64(), r.ReadDouble(), ReadOptional(r),
            ReadOptionalSnapshot(r), WireFormat.ReadStatistics(r), r.ReadBoolean(), r.ReadDouble(), r.ReadDouble(), r.ReadInt64());

    /// <summary>A count, then that many items; a count the remaining bytes cannot hold is corrupt.</summary>
    private static ImmutableArray<T> ReadList<T>(BinaryReader r, Func<BinaryReader, T> read)
    {
        var count = r.ReadInt32();
        if (count < 0 || count > r.BaseStream.Length - r.BaseStream.Position)
            throw new IOException($"{count} items in a message of {r.BaseStream.Length} bytes");
        var items = ImmutableArray.CreateBuilder<T>(count);
        for (var i = 0; i < count; i++)
            items.Add(read(r));
        return items.MoveToImmutable();
    }

    private static void WriteOptionalPair(BinaryWriter w, ParentPair? pair)
    {
        w.Write(pair.HasValue);
        if (pair is { } p) { w.Write(p.First); w.Write(p.Second); }
    }

    private static ParentPair? ReadOptionalPair(BinaryReader r) => r.ReadBoolean() ? new ParentPair(r.ReadInt32(), r.ReadInt32()) : null;

    private static void WritePairs(BinaryWriter w, IReadOnlyList<ParentPair> pairs)
    {
        w.Write(pairs.Count);
        foreach (var pair in pairs) { w.Write(pair.First); w.Write(pair.Second); }
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

    private static void WriteRef(BinaryWriter w, IActorRef actor) => w.Write(Akka.Serialization.Serialization.SerializedActorPath(actor));

    private IActorRef ReadRef(BinaryReader r) => system.Provider.ResolveActorRef(r.ReadString());

    private static void WriteIndices(BinaryWriter w, IReadOnlyList<int> indices)
    {
        w.Write(indices.Count);
        foreach (var index in indices)
            w.Write(index);
    }

    private static ImmutableArray<int> ReadIndices(BinaryReader r)
    {
        var count = r.ReadInt32();
        // A count the message cannot hold is corrupt: never allocate what the bytes do not back.
        if (count < 0 || count > (r.BaseStream.Length - r.BaseStream.Position) / sizeof(int))
            throw new IOException($"{count} member indices in a message of {r.BaseStream.Length} bytes");
        var indices = new int[count];
        for (var i = 0; i < count; i++)
            indices[i] = r.ReadInt32();
        return ImmutableCollectionsMarshal.AsImmutableArray(indices);
    }

    private static byte[] ReadBytes(BinaryReader r)
    {
        var length = r.ReadInt32();
        // BinaryReader.ReadBytes allocates the count it is given before it reads.
        if (length < 0 || length > r.BaseStream.Length - r.BaseStream.Position)
            throw new IOException($"{length} bytes in a message with {r.BaseStream.Length - r.BaseStream.Position} bytes left");
        return r.ReadBytes(length);
    }

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

/// <summary>Snapshots and float arrays on the wire: layout entries, then the values as raw little-endian float32.</summary>
public static class WireFormat
{
    public static void WriteSnapshot(BinaryWriter w, WeightSnapshot snapshot)
    {
        WriteLayout(w, snapshot.Layout);
        WriteFloats(w, snapshot.Values);
    }

    public static WeightSnapshot ReadSnapshot(BinaryReader r) => new(ReadLayout(r), ReadFloats(r));

    /// <summary>
    /// A node's sum: float32 when every element is a float (one member, or sums that happen to fit), float64
    /// otherwise; then the elements kept as exact addends.
    /// </summary>
    public static void WritePartialSum(BinaryWriter w, PartialSum sum)
    {
        WriteLayout(w, sum.Layout);
        w.Write(sum.Count);
        var asFloats = sum.FitsFloats();
        w.Write(asFloats);
        if (asFloats)
            WriteValues<float>(w, Array.ConvertAll(ImmutableCollectionsMarshal.AsArray(sum.Sums)!, s => (float)s));
        else
            WriteDoubles(w, sum.Sums);
        w.Write(sum.Addends.Count);
        foreach (var (index, addends) in sum.Addends.OrderBy(a => a.Key))
        {
            w.Write(index);
            WriteDoubles(w, addends);
        }
    }

    public static PartialSum ReadPartialSum(BinaryReader r)
    {
        var layout = ReadLayout(r);
        var count = r.ReadInt32();
        var sums = r.ReadBoolean() ? ImmutableCollectionsMarshal.AsImmutableArray(Array.ConvertAll(ReadValues<float>(r), f => (double)f)) : ReadDoubles(r);
        var elements = r.ReadInt32();
        if (elements < 0 || elements > sums.Length)
            throw new IOException($"{elements} elements kept as addends in a sum of {sums.Length}");
        var addends = ImmutableDictionary.CreateBuilder<int, ImmutableArray<double>>();
        for (var i = 0; i < elements; i++)
            addends[r.ReadInt32()] = ReadDoubles(r);
        try
        {
            return new PartialSum(layout, count, sums, addends.ToImmutable());
        }
        catch (ArgumentException e)
        {
            throw new IOException($"inconsistent sum: {e.Message}", e);
        }
    }

    private static void WriteLayout(BinaryWriter w, WeightLayout layout)
    {
        var entries = layout.Entries;
        w.Write(entries.Count);
        foreach (var entry in entries)
        {
            w.Write(entry.Name);
            w.Write((byte)entry.Kind);
            w.Write((byte)entry.Shape.Length);
            foreach (var dimension in entry.Shape)
                w.Write(dimension);
        }
    }

    private static WeightLayout ReadLayout(BinaryReader r)
    {
        var count = r.ReadInt32();
        if (count < 0 || count > 1_000_000)
            throw new IOException($"implausible entry count {count}");
        var entries = new List<WeightEntry>(count);
        for (var i = 0; i < count; i++)
        {
            var name = r.ReadString();
            var kind = (WeightKind)r.ReadByte();
            if (!Enum.IsDefined(kind))
                throw new IOException($"entry '{name}' has unknown kind {(byte)kind}");
            var shape = new long[r.ReadByte()];
            for (var d = 0; d < shape.Length; d++)
                shape[d] = r.ReadInt64();
            entries.Add(new WeightEntry(name, ImmutableCollectionsMarshal.AsImmutableArray(shape), kind));
        }
        return new WeightLayout(entries);
    }

    public static void WriteMemberState(BinaryWriter w, MemberState state)
    {
        w.Write(state.Member);
        w.Write(state.Step);
        WriteSnapshot(w, state.Weights);
        WriteSnapshot(w, state.Optimizer);
    }

    public static MemberState ReadMemberState(BinaryReader r) => new(r.ReadInt32(), r.ReadInt64(), ReadSnapshot(r), ReadSnapshot(r));

    /// <summary>REPAIR statistics, or nothing: a layer count of -1 means none.</summary>
    public static void WriteStatistics(BinaryWriter w, ActivationStatistics? statistics)
    {
        w.Write(statistics?.Layers.Length ?? -1);
        foreach (var layer in statistics?.Layers ?? [])
        {
            w.Write(layer.Layer);
            WriteFloats(w, layer.Mean);
            WriteFloats(w, layer.Std);
        }
    }

    public static ActivationStatistics? ReadStatistics(BinaryReader r)
    {
        var count = r.ReadInt32();
        if (count < -1 || count > 100_000)
            throw new IOException($"implausible layer count {count}");
        return count < 0 ? null : new ActivationStatistics(Enumerable.Range(0, count)
            .Select(_ => new LayerStatistics(r.ReadString(), ReadFloats(r), ReadFloats(r))).ToImmutableArray());
    }

    public static void WriteFloats(BinaryWriter w, ImmutableArray<float> values) => WriteValues(w, values.AsSpan());

    /// <summary>Read into a new array that nothing else holds, so it becomes immutable without a copy.</summary>
    public static ImmutableArray<float> ReadFloats(BinaryReader r) => ImmutableCollectionsMarshal.AsImmutableArray(ReadValues<float>(r));

    private static void WriteDoubles(BinaryWriter w, ImmutableArray<double> values) => WriteValues(w, values.AsSpan());

    private static void WriteValues<T>(BinaryWriter w, ReadOnlySpan<T> values) where T : unmanaged
    {
        EnsureLittleEndian();
        w.Write(values.Length);
        w.Write(MemoryMarshal.AsBytes(values));
    }

    private static ImmutableArray<double> ReadDoubles(BinaryReader r) => ImmutableCollectionsMarshal.AsImmutableArray(ReadValues<double>(r));

    private static T[] ReadValues<T>(BinaryReader r) where T : unmanaged
    {
        EnsureLittleEndian();
        var length = r.ReadInt32();
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (length < 0 || (long)length * size > r.BaseStream.Length - r.BaseStream.Position)
            throw new IOException($"array of {length} {typeof(T).Name} values does not fit in the remaining {r.BaseStream.Length - r.BaseStream.Position} bytes");
        var values = new T[length];
        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static void EnsureLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("the weight wire format is little-endian float32; big-endian hosts are not supported");
    }
}

/// <summary>A write-only stream that only counts what is written: sizes a message without copying its data.</summary>
internal sealed class CountingStream : Stream
{
    private long _length;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _length;
    public override long Position { get => _length; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => _length += count;
    public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
    public override void WriteByte(byte value) => _length++;
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
