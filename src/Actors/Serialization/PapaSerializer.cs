using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using PapaActors.Actors.Messages;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;

namespace PapaActors.Actors.Serialization;

/// <summary>
/// Binary serializer for every <see cref="IPapaMessage"/>, each encoded as its one entry in <see cref="MessageCodecs"/>
/// says. Weights and logits are written as raw little-endian float32 (Akka's default JSON serializer would turn each
/// float into text, ~3x larger and slow); everything else is a compact BinaryWriter record. Hand-written because no schema library here
/// writes float arrays as raw bytes without generated code.
/// </summary>
public sealed class PapaSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    public const int Id = 7101;

    private static readonly Dictionary<Type, MessageCodec> ByType = MessageCodecs.All.ToDictionary(c => c.Type);
    private static readonly Dictionary<string, MessageCodec> ByManifest = MessageCodecs.All.ToDictionary(c => c.Manifest);

    public override int Identifier => Id;

    public static IEnumerable<Type> SupportedTypes => ByType.Keys;

    public static IEnumerable<string> KnownManifests => ByManifest.Keys;

    public static bool IsKnownManifest(string manifest) => ByManifest.ContainsKey(manifest);

    public override string Manifest(object o) => CodecFor(o).Manifest;

    public override byte[] ToBinary(object obj)
    {
        // Sized up front: growing a MemoryStream to tens of MB copies the weights several times over.
        using var stream = new MemoryStream((int)Math.Min(Array.MaxLength, 256 + CodecFor(obj).ArrayBytes(obj)));
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
        var codec = CodecFor(obj);
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        codec.Write(w, obj);
    }

    public override object FromBinary(byte[] bytes, string manifest) => Read(new MemoryStream(bytes, writable: false), manifest);

    /// <summary>
    /// Reads one <paramref name="manifest"/> message that fills <paramref name="stream"/> exactly, from its position to
    /// its Length (every array length is checked against what is left before it is allocated).
    /// </summary>
    public object Read(Stream stream, string manifest)
    {
        if (!ByManifest.TryGetValue(manifest, out var codec))
            throw new SerializationException($"unknown PapaSerializer manifest '{manifest}'");
        try
        {
            using var r = new WireReader(stream, system);
            var message = codec.Read(r);
            if (stream.Position != stream.Length)
                throw new SerializationException($"'{manifest}' message has {stream.Length - stream.Position} bytes past its end");
            return message;
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or FormatException or WeightLayoutException or ArgumentException)
        {
            throw new SerializationException($"corrupt '{manifest}' message ({stream.Length} bytes): {e.Message}", e);
        }
    }

    private static MessageCodec CodecFor(object o) =>
        ByType.TryGetValue(o.GetType(), out var codec)
            ? codec
            : throw new SerializationException($"PapaSerializer cannot serialize {o.GetType().FullName}: add it to MessageCodecs");
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
        var entries = new List<WeightEntry>();
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
        if (count < 0)
            return null;
        var layers = ImmutableArray.CreateBuilder<LayerStatistics>(); // not sized by the count: the layers are what came
        for (var i = 0; i < count; i++)
            layers.Add(new LayerStatistics(r.ReadString(), ReadFloats(r), ReadFloats(r)));
        return new ActivationStatistics(layers.ToImmutable());
    }

    public static void WriteFloats(BinaryWriter w, ImmutableArray<float> values) => WriteValues(w, values.AsSpan());

    /// <summary>Read into a new array that nothing else holds, so it becomes immutable without a copy.</summary>
    public static ImmutableArray<float> ReadFloats(BinaryReader r) => ImmutableCollectionsMarshal.AsImmutableArray(ReadValues<float>(r));

    public static ImmutableArray<int> ReadInts(BinaryReader r) => ImmutableCollectionsMarshal.AsImmutableArray(ReadValues<int>(r));

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
        // A stream that cannot seek (a network payload) may never bring what a length claims: its array grows as the
        // bytes come (to at most 4 times what came; copies a third of the array more), so a forged length allocates
        // little. A seekable stream (a MemoryStream) holds its bytes already.
        var values = new T[r.BaseStream.CanSeek ? length : Math.Min(length, UnbackedValuesAtOnce / size)];
        var filled = 0;
        while (true)
        {
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan(filled)));
            if (values.Length == length)
                return values;
            filled = values.Length;
            Array.Resize(ref values, (int)Math.Min(length, 4L * filled));
        }
    }

    /// <summary>The most bytes an array read from a network stream is given before its bytes have come.</summary>
    private const int UnbackedValuesAtOnce = 1 << 20;

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
