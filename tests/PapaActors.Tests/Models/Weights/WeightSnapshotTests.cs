using System.Runtime.InteropServices;
using PapaActors.Actors.Serialization;
using PapaActors.Models.Weights;

namespace PapaActors.Tests.Models.Weights;

/// <summary>Snapshots are immutable without ever copying their weights (tens of MB).</summary>
public sealed class WeightSnapshotTests
{
    private const int Floats = 10_000_000; // 40 MB, as a large model's weights
    private static readonly WeightLayout Layout = new([new WeightEntry("features.0.weight", [Floats], WeightKind.Parameter)]);

    [Fact]
    public void ASnapshotOfAnOwnedArrayWrapsItWithoutACopy()
    {
        var values = new float[Floats];
        WeightSnapshot.FromOwned(Layout, new float[Floats]); // the first call's one-time setup is not the wrapping's cost, whichever test runs first

        var before = GC.GetAllocatedBytesForCurrentThread();
        var snapshot = WeightSnapshot.FromOwned(Layout, values);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Same(values, ImmutableCollectionsMarshal.AsArray(snapshot.Values));
        Assert.True(allocated < 1024, $"{allocated} bytes allocated to wrap {4L * Floats} bytes of weights");
    }

    [Fact]
    public void SnapshotsReadFromTheWireHoldTheArrayTheyWereReadInto()
    {
        using var bytes = new MemoryStream();
        using (var writer = new BinaryWriter(bytes, System.Text.Encoding.UTF8, leaveOpen: true))
            WireFormat.WriteSnapshot(writer, WeightSnapshot.FromOwned(Layout, new float[Floats]));
        bytes.Position = 0;
        using var reader = new BinaryReader(bytes);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var snapshot = WireFormat.ReadSnapshot(reader);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(Floats, snapshot.Values.Length);
        Assert.True(allocated < 4L * Floats + 64 * 1024, $"{allocated} bytes allocated to read {4L * Floats} bytes of weights: more than one array");
    }

    [Fact]
    public void AMissingArrayIsRefusedByName()
    {
        var error = Assert.Throws<ArgumentException>(() => new WeightSnapshot(Layout, default));
        Assert.Contains("a snapshot needs values", error.Message);
    }
}
