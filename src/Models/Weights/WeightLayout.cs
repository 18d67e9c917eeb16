using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Weights;

/// <summary>What a state-dict entry is: a trained parameter, a float buffer (BatchNorm statistics) or an integer counter.</summary>
public enum WeightKind : byte { Parameter, Buffer, Counter }

public sealed record WeightEntry(string Name, ImmutableArray<long> Shape, WeightKind Kind)
{
    public long Length { get; } = Shape.Aggregate(1L, (a, d) => a * d);
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}

/// <summary>
/// The order, names and shapes of a model's whole state (parameters and buffers, PyTorch state-dict order)
/// and where each entry sits in a flat float vector.
/// </summary>
public sealed class WeightLayout
{
    private readonly long[] _offsets;

    public WeightLayout(IReadOnlyList<WeightEntry> entries)
    {
        Entries = entries;
        _offsets = new long[entries.Count];
        long offset = 0;
        for (var i = 0; i < entries.Count; i++)
        {
            _offsets[i] = offset;
            offset += entries[i].Length;
        }
        TotalLength = offset;
        var text = string.Join(";", entries.Select(e => $"{e.Name}:{e.Kind}:{string.Join("x", e.Shape)}"));
        Fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    public IReadOnlyList<WeightEntry> Entries { get; }
    public long TotalLength { get; }

    /// <summary>A short hash of names, kinds and shapes: equal fingerprints mean interchangeable snapshots.</summary>
    public string Fingerprint { get; }

    public long OffsetOf(int index) => _offsets[index];

    public static WeightLayout Of(nn.Module model)
    {
        var parameters = model.named_parameters().Select(p => p.name).ToHashSet();
        return new WeightLayout(model.state_dict()
            .Select(e => new WeightEntry(e.Key, [.. e.Value.shape], Kind(e.Key, e.Value, parameters)))
            .ToList());
    }

    private static WeightKind Kind(string name, Tensor tensor, HashSet<string> parameters) =>
        parameters.Contains(name) ? WeightKind.Parameter
        : tensor.is_floating_point() ? WeightKind.Buffer
        : WeightKind.Counter;

    /// <summary>Throws a <see cref="WeightLayoutException"/> naming the first difference, if any.</summary>
    public void EnsureMatches(WeightLayout other, string context)
    {
        if (Fingerprint == other.Fingerprint)
            return;
        for (var i = 0; i < Math.Min(Entries.Count, other.Entries.Count); i++)
        {
            var (mine, theirs) = (Entries[i], other.Entries[i]);
            if (mine.Name != theirs.Name)
                throw new WeightLayoutException($"{context}: entry {i} is '{theirs.Name}', expected '{mine.Name}'");
            if (mine.Kind != theirs.Kind || !mine.Shape.SequenceEqual(theirs.Shape))
                throw new WeightLayoutException($"{context}: '{mine.Name}' is {theirs.Kind} {theirs.ShapeText}, expected {mine.Kind} {mine.ShapeText}");
        }
        throw new WeightLayoutException($"{context}: {other.Entries.Count} entries, expected {Entries.Count}");
    }
}

/// <summary>Weights whose names, kinds or shapes do not fit the model they are meant for.</summary>
public sealed class WeightLayoutException(string message) : Exception(message);
