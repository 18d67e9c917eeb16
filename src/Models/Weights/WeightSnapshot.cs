using System.Collections.Immutable;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PapaActors.Models.Weights;

/// <summary>
/// A model's whole state as flat float data (counters such as num_batches_tracked stored as whole floats)
/// plus its layout. Immutable, so safe to put in a message and to share between actors.
/// </summary>
public sealed record WeightSnapshot
{
    public WeightSnapshot(WeightLayout layout, ImmutableArray<float> values)
    {
        if (values.IsDefault)
            throw new ArgumentException("a snapshot needs values (got a default ImmutableArray)", nameof(values));
        if (values.Length != layout.TotalLength)
            throw new WeightLayoutException($"snapshot has {values.Length} values, its layout needs {layout.TotalLength}");
        Layout = layout;
        Values = values;
    }

    /// <summary>
    /// A snapshot over <paramref name="values"/> without copying them (weights are tens of MB): the caller hands
    /// the array over and never writes into it again.
    /// </summary>
    public static WeightSnapshot FromOwned(WeightLayout layout, float[] values) => new(layout, ImmutableCollectionsMarshal.AsImmutableArray(values));

    public WeightLayout Layout { get; }
    public ImmutableArray<float> Values { get; }

    /// <summary>
    /// The values as a CPU tensor over the same memory, without a copy: only ever read it. (TorchSharp has no
    /// read-only tensors, so this is the one place where the array behind the snapshot is handed out.)
    /// </summary>
    public Tensor View() => from_array(ImmutableCollectionsMarshal.AsArray(Values)!);

    /// <summary>The values of one named entry (a copy).</summary>
    public float[] Entry(string name)
    {
        var index = Layout.Entries.Select((e, i) => (e, i)).First(x => x.e.Name == name).i;
        return Values.AsSpan((int)Layout.OffsetOf(index), (int)Layout.Entries[index].Length).ToArray();
    }
}
