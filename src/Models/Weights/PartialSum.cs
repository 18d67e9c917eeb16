using System.Collections.Immutable;
using System.Numerics;
using System.Runtime.InteropServices;

namespace PapaActors.Models.Weights;

/// <summary>
/// The exact element-wise sum of <see cref="Count"/> float snapshots. Exact, so that a mean does not depend on
/// how the snapshots were grouped: the members of each node summed on their node and the node sums summed again
/// give the same mean, bit for bit, as one sum over all members (floating-point addition is not associative;
/// exact addition is). Each element is a double holding its sum exactly (a sum of a few floats of similar
/// magnitude fits in 53 bits); an element whose sum would not fit keeps its exact addends instead, marked by a
/// NaN in <see cref="Sums"/>. <see cref="Mean"/> rounds each exact sum once, to the nearest double.
/// Hand-written: no library here adds floats exactly.
/// </summary>
public sealed record PartialSum
{
    public PartialSum(WeightLayout layout, int count, ImmutableArray<double> sums, ImmutableDictionary<int, ImmutableArray<double>> addends)
    {
        if (count < 1)
            throw new ArgumentException($"a sum of {count} snapshots");
        if (sums.IsDefault || sums.Length != layout.TotalLength)
            throw new WeightLayoutException($"sum has {(sums.IsDefault ? 0 : sums.Length)} values, its layout needs {layout.TotalLength}");
        foreach (var index in addends.Keys)
        {
            if (index < 0 || index >= sums.Length || !double.IsNaN(sums[index]))
                throw new ArgumentException($"addends for element {index}, which is not marked as kept by its addends");
        }
        Layout = layout;
        Count = count;
        Sums = sums;
        Addends = addends;
    }

    public WeightLayout Layout { get; }
    public int Count { get; }
    public ImmutableArray<double> Sums { get; }
    public ImmutableDictionary<int, ImmutableArray<double>> Addends { get; }

    /// <summary>The sum of <paramref name="snapshots"/>, which must all be finite.</summary>
    public static PartialSum Of(IReadOnlyList<WeightSnapshot> snapshots)
    {
        var sum = new Accumulator(FirstLayout(snapshots.Select(s => s.Layout).ToList()));
        foreach (var snapshot in snapshots)
            sum.Add(snapshot);
        return sum.ToPartialSum();
    }

    /// <summary>The sum of the snapshots behind all <paramref name="parts"/>.</summary>
    public static PartialSum Combine(IReadOnlyList<PartialSum> parts)
    {
        var sum = new Accumulator(FirstLayout(parts.Select(p => p.Layout).ToList()));
        foreach (var part in parts)
            sum.Add(part);
        return sum.ToPartialSum();
    }

    /// <summary>The mean: each element's exact sum rounded to the nearest double, divided by the count, rounded to float.</summary>
    public WeightSnapshot Mean()
    {
        var mean = new float[Sums.Length];
        for (var i = 0; i < mean.Length; i++)
        {
            var sum = double.IsNaN(Sums[i]) ? RoundedSum(Addends[i]) : Sums[i];
            mean[i] = (float)(sum / Count);
        }
        return WeightSnapshot.FromOwned(Layout, mean);
    }

    /// <summary>Whether every element is a float: then the sum travels as float32 (always so for one snapshot).</summary>
    public bool FitsFloats() => Addends.IsEmpty && Sums.All(s => (double)(float)s == s);

    private static WeightLayout FirstLayout(IReadOnlyList<WeightLayout> layouts)
    {
        if (layouts.Count == 0)
            throw new ArgumentException("nothing to sum");
        for (var i = 1; i < layouts.Count; i++)
            layouts[0].EnsureMatches(layouts[i], $"summand {i}");
        return layouts[0];
    }

    /// <summary>The nearest double to the exact sum of <paramref name="addends"/> (ties to even), computed with integers.</summary>
    private static double RoundedSum(IReadOnlyList<double> addends)
    {
        var parts = addends.Where(a => a != 0).Select(Decompose).ToList();
        if (parts.Count == 0)
            return 0;
        var lowest = parts.Min(p => p.Exponent);
        var total = BigInteger.Zero;
        foreach (var (mantissa, exponent) in parts)
            total += mantissa << (exponent - lowest);
        if (total.IsZero)
            return 0;
        var magnitude = BigInteger.Abs(total);
        var shift = (int)Math.Max(0, magnitude.GetBitLength() - 53);
        var kept = magnitude >> shift;
        if (shift > 0)
        {
            var remainder = magnitude - (kept << shift);
            var half = BigInteger.One << (shift - 1);
            if (remainder > half || (remainder == half && !kept.IsEven))
                kept += 1;
        }
        var rounded = Math.ScaleB((double)kept, lowest + shift);
        return total.Sign < 0 ? -rounded : rounded;
    }

    /// <summary>A finite double as signed integer mantissa * 2^exponent.</summary>
    private static (BigInteger Mantissa, int Exponent) Decompose(double value)
    {
        var bits = BitConverter.DoubleToInt64Bits(value);
        var biased = (int)((bits >> 52) & 0x7FF);
        var fraction = bits & 0xF_FFFF_FFFF_FFFFL;
        var (mantissa, exponent) = biased == 0 ? (fraction, -1074) : (fraction | (1L << 52), biased - 1075);
        return (value < 0 ? -mantissa : mantissa, exponent);
    }

    private sealed class Accumulator(WeightLayout layout)
    {
        private readonly double[] _sums = new double[layout.TotalLength];
        private readonly Dictionary<int, List<double>> _addends = [];
        private int _count;

        public void Add(WeightSnapshot snapshot)
        {
            var values = snapshot.Values.AsSpan();
            for (var i = 0; i < values.Length; i++)
            {
                if (!float.IsFinite(values[i]))
                    throw new ArgumentException($"cannot sum a non-finite weight ({values[i]} at element {i})");
                Add(i, values[i]);
            }
            _count++;
        }

        public void Add(PartialSum part)
        {
            for (var i = 0; i < part.Sums.Length; i++)
            {
                if (!double.IsNaN(part.Sums[i]))
                    Add(i, part.Sums[i]);
                else
                    foreach (var addend in part.Addends[i])
                        Add(i, addend);
            }
            _count += part.Count;
        }

        /// <summary>Adds exactly: the double sum when it is exact (checked with Knuth's TwoSum), the addend itself otherwise.</summary>
        private void Add(int i, double value)
        {
            var sum = _sums[i];
            if (double.IsNaN(sum))
            {
                _addends[i].Add(value);
                return;
            }
            var next = sum + value;
            var virtualValue = next - sum;
            var error = (sum - (next - virtualValue)) + (value - virtualValue);
            if (error == 0)
                _sums[i] = next;
            else
            {
                _addends[i] = [sum, value];
                _sums[i] = double.NaN;
            }
        }

        /// <summary>Hands the sums over without a copy: the accumulator is not used after this.</summary>
        public PartialSum ToPartialSum() =>
            new(layout, _count, ImmutableCollectionsMarshal.AsImmutableArray(_sums), _addends.ToImmutableDictionary(a => a.Key, a => a.Value.ToImmutableArray()));
    }
}
