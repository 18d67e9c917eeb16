namespace PapaActors.Models.Training;

/// <summary>One member's regularisation: mixup and cutmix alphas (0 = off), label smoothing, random-erasing probability.</summary>
public sealed record MemberVariation(double Mixup, double Cutmix, double LabelSmoothing, double RandomErasing)
{
    public static readonly MemberVariation None = new(0, 0, 0, 0);

    /// <summary>Mixup or cutmix mixes pairs of images, so the targets become soft.</summary>
    public bool MixesImages => Mixup > 0 || Cutmix > 0;

    public override string ToString() => $"mixup {Mixup}, cutmix {Cutmix}, label smoothing {LabelSmoothing}, random erasing {RandomErasing}";
}

/// <summary>The values each regularisation may take; members get combinations of them.</summary>
public sealed record VariationLists(IReadOnlyList<double> Mixup, IReadOnlyList<double> Cutmix, IReadOnlyList<double> LabelSmoothing, IReadOnlyList<double> RandomErasing)
{
    public static readonly VariationLists None = new([0.0], [0.0], [0.0], [0.0]);

    public bool Equals(VariationLists? other) =>
        other is not null && Mixup.SequenceEqual(other.Mixup) && Cutmix.SequenceEqual(other.Cutmix)
        && LabelSmoothing.SequenceEqual(other.LabelSmoothing) && RandomErasing.SequenceEqual(other.RandomErasing);

    public override int GetHashCode() => HashCode.Combine(Mixup.Count, Cutmix.Count, LabelSmoothing.Count, RandomErasing.Count);

    /// <summary>
    /// The Cartesian product (mixup x label smoothing x cutmix x random erasing, in list order), shuffled by a
    /// generator seeded with the run seed; member i gets combination i mod the product's size, so members get
    /// distinct combinations while there are enough of them.
    /// </summary>
    public IReadOnlyList<MemberVariation> Assign(int population, long seed)
    {
        var combinations = (from mixup in Mixup
                            from smoothing in LabelSmoothing
                            from cutmix in Cutmix
                            from erasing in RandomErasing
                            select new MemberVariation(mixup, cutmix, smoothing, erasing)).ToArray();
        var random = new Random(Seeds.DeriveInt(seed, Seeds.Stream.Variations));
        // Fisher-Yates written out (not Random.Shuffle) so the assignment cannot change with a .NET release.
        for (var i = combinations.Length - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (combinations[i], combinations[j]) = (combinations[j], combinations[i]);
        }
        return Enumerable.Range(0, population).Select(i => combinations[i % combinations.Length]).ToList();
    }
}
