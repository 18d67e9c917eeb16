namespace PapaActors.Models.Weights;

/// <summary>
/// A model's whole state as flat float data (counters such as num_batches_tracked stored as whole floats)
/// plus its layout. Plain data: safe to put in a message. Never mutated after creation.
/// </summary>
public sealed record WeightSnapshot
{
    public WeightSnapshot(WeightLayout layout, float[] values)
    {
        if (values.LongLength != layout.TotalLength)
            throw new WeightLayoutException($"snapshot has {values.LongLength} values, its layout needs {layout.TotalLength}");
        Layout = layout;
        Values = values;
    }

    public WeightLayout Layout { get; }
    public float[] Values { get; }

    /// <summary>The values of one named entry (a copy).</summary>
    public float[] Entry(string name)
    {
        var index = Layout.Entries.Select((e, i) => (e, i)).First(x => x.e.Name == name).i;
        return Values.AsSpan((int)Layout.OffsetOf(index), (int)Layout.Entries[index].Length).ToArray();
    }
}
