using CsCheck;
using PapaActors.Models.Weights;

namespace PapaActors.Tests.Models.Weights;

public sealed class PartialSumTests
{
    private static readonly WeightLayout Layout = new([new WeightEntry("w", [6], WeightKind.Parameter)]);

    private static WeightSnapshot Snapshot(params float[] values) => WeightSnapshot.FromOwned(Layout, values);

    /// <summary>Floats of every magnitude and sign, so sums that do not fit a double occur often.</summary>
    private static readonly Gen<float> Weight = Gen.OneOf(
        Gen.Float[-2f, 2f],
        Gen.Float[-1e-30f, 1e-30f],
        Gen.Float[-1e30f, 1e30f],
        Gen.Const(0f),
        Gen.Float.Where(float.IsFinite));

    [Fact]
    public void AnyGroupingOfTheSnapshotsGivesTheSameMeanBitForBit()
    {
        var population = Gen.Int[1, 7].SelectMany(count => Weight.Array[6].Array[count]);
        Gen.Select(population, Gen.Int[0, int.MaxValue]).Sample((members, seed) =>
        {
            var snapshots = members.Select(v => Snapshot(v)).ToList();
            var whole = PartialSum.Of(snapshots).Mean().Values;

            // Members spread over random nodes in a random order; each node sums its own, then the node sums are summed.
            var random = new Random(seed);
            var nodes = snapshots.OrderBy(_ => random.Next()).GroupBy(_ => random.Next(3)).Select(g => PartialSum.Of(g.ToList())).ToList();
            var regrouped = PartialSum.Combine(nodes.OrderBy(_ => random.Next()).ToList()).Mean().Values;

            Assert.Equal(whole.Select(BitConverter.SingleToInt32Bits), regrouped.Select(BitConverter.SingleToInt32Bits));
        }, iter: 2000);
    }

    [Fact]
    public void TheMeanIsTheExactSumRoundedOnce()
    {
        var sum = PartialSum.Of([Snapshot(1e30f, 3, 1, 0.1f, -1, 1e-30f), Snapshot(1, 3, 2, 0.2f, 1, -1e-30f), Snapshot(-1e30f, 3, 4, 0.3f, 0, 1)]);

        // 1e30 + 1 - 1e30 needs its addends kept: a double sum in that order would give 0.
        Assert.Single(sum.Addends);
        Assert.Equal<float>([(float)(1.0 / 3), 3, (float)(7.0 / 3), (float)(((double)0.1f + 0.2f + 0.3f) / 3), 0, (float)(1.0 / 3)], sum.Mean().Values);
        Assert.Equal(3, sum.Count);
    }

    [Fact]
    public void OneSnapshotTravelsAsFloatsAndSumsThatNeedMoreDoNot()
    {
        Assert.True(PartialSum.Of([Snapshot(1, 2, 3, 4, 5, 6)]).FitsFloats());
        Assert.False(PartialSum.Of([Snapshot(1, 2, 3, 4, 5, 6), Snapshot(1e-8f, 0, 0, 0, 0, 0)]).FitsFloats());
    }

    [Fact]
    public void ANonFiniteWeightOrAnotherLayoutIsRefusedByName()
    {
        var nan = Assert.Throws<ArgumentException>(() => PartialSum.Of([Snapshot(1, float.NaN, 0, 0, 0, 0)]));
        Assert.Contains("cannot sum a non-finite weight (NaN at element 1)", nan.Message);
        var other = WeightSnapshot.FromOwned(new WeightLayout([new WeightEntry("v", [6], WeightKind.Parameter)]), new float[6]);
        Assert.ThrowsAny<WeightLayoutException>(() => PartialSum.Of([Snapshot(new float[6]), other]));
    }
}
